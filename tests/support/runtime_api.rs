//! A Lambda Runtime API served on loopback, so a function's real binary can be run as Lambda runs
//! it: it polls `next`, gets the queued events, and posts its answers back here.

use std::collections::{HashMap, VecDeque};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Notify, mpsc};

const RUNTIME: &str = "/2018-06-01/runtime";

type Answer = (String, Result<Value, Value>);
/// Per request id: when the event was handed out and when its answer came back.
type Timings = HashMap<String, (Instant, Option<Instant>)>;

#[derive(Debug, Clone)]
struct Shared {
    events: Arc<Mutex<VecDeque<(String, Value)>>>,
    first_poll: Arc<Mutex<Option<Instant>>>,
    /// When each event was handed to the function and when its answer came back.
    timings: Arc<Mutex<Timings>>,
    answers: mpsc::UnboundedSender<Answer>,
    never: Arc<Notify>,
}

/// A running Runtime API with events queued for the function.
#[derive(Debug)]
pub struct RuntimeApi {
    shared: Shared,
    answers: mpsc::UnboundedReceiver<Answer>,
    /// `host:port`, the value for `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
}

async fn next(State(rt): State<Shared>) -> impl IntoResponse {
    rt.first_poll.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_or_insert_with(Instant::now);
    let event = rt.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop_front();
    let Some((id, event)) = event else {
        // No more events: hold the poll open, as Lambda does while a function is idle.
        rt.never.notified().await;
        unreachable!("nobody notifies");
    };
    rt.timings
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(id.clone(), (Instant::now(), None));
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    let mut headers = HeaderMap::new();
    let header = |v: &str| v.parse().expect("a valid header value");
    headers.insert("Lambda-Runtime-Aws-Request-Id", header(&id));
    headers.insert("Lambda-Runtime-Deadline-Ms", header(&deadline.to_string()));
    headers.insert(
        "Lambda-Runtime-Invoked-Function-Arn",
        header("arn:aws:lambda:us-east-1:123456789012:function:commander"),
    );
    headers.insert(
        "Lambda-Runtime-Trace-Id",
        header("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"),
    );
    (headers, axum::Json(event))
}

fn parse(body: String) -> Value {
    serde_json::from_str(&body).unwrap_or(Value::String(body))
}

fn answered(rt: &Shared, id: &str) {
    if let Some(t) = rt.timings.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_mut(id) {
        t.1 = Some(Instant::now());
    }
}

async fn response(State(rt): State<Shared>, Path(id): Path<String>, body: String) -> &'static str {
    answered(&rt, &id);
    let _ = rt.answers.send((id, Ok(parse(body))));
    "{\"status\":\"OK\"}"
}

async fn error(State(rt): State<Shared>, Path(id): Path<String>, body: String) -> &'static str {
    answered(&rt, &id);
    let _ = rt.answers.send((id, Err(parse(body))));
    "{\"status\":\"OK\"}"
}

async fn init_error(body: String) -> &'static str {
    panic!("the function failed to initialise: {body}");
}

impl RuntimeApi {
    /// Serves the API on a free loopback port with `events` (request id, payload) queued.
    pub async fn serve(events: &[(&str, Value)]) -> Self {
        let (tx, answers) = mpsc::unbounded_channel();
        let shared = Shared {
            events: Arc::new(Mutex::new(
                events.iter().map(|(id, e)| ((*id).to_owned(), e.clone())).collect(),
            )),
            first_poll: Arc::new(Mutex::new(None)),
            timings: Arc::default(),
            answers: tx,
            never: Arc::new(Notify::new()),
        };
        let app = Router::new()
            .route(&format!("{RUNTIME}/invocation/next"), get(next))
            .route(&format!("{RUNTIME}/invocation/{{id}}/response"), post(response))
            .route(&format!("{RUNTIME}/invocation/{{id}}/error"), post(error))
            .route(&format!("{RUNTIME}/init/error"), post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let address = listener.local_addr().expect("local address").to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.expect("runtime API serves") });
        Self { shared, answers, address }
    }

    /// Waits for `count` answers: request id to the response (`Ok`) or the reported error (`Err`).
    pub async fn answers(&mut self, count: usize) -> HashMap<String, Result<Value, Value>> {
        let mut by_id = HashMap::new();
        for _ in 0..count {
            let (id, answer) = tokio::time::timeout(Duration::from_secs(60), self.answers.recv())
                .await
                .expect("the function answers within a minute")
                .expect("the runtime API is up");
            by_id.insert(id, answer);
        }
        by_id
    }

    /// When event `id` was handed to the function and when its answer arrived.
    pub fn timing(&self, id: &str) -> Option<(Instant, Instant)> {
        let timings = self.shared.timings.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        timings.get(id).and_then(|(handed, answered)| answered.map(|a| (*handed, a)))
    }

    /// When the function first polled for an event.
    pub fn first_poll(&self) -> Option<Instant> {
        *self.shared.first_poll.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A function binary started with the environment Lambda gives it and dummy AWS credentials,
/// its stdout collected line by line.
#[derive(Debug)]
pub struct Function {
    pub child: tokio::process::Child,
    pub started: Instant,
    lines: tokio::task::JoinHandle<Vec<String>>,
}

impl Function {
    pub fn spawn(binary: &str, name: &str, runtime_api: &str, extra_env: &[(&str, &str)]) -> Self {
        let started = Instant::now();
        let mut child = tokio::process::Command::new(binary)
            .env_clear()
            .envs([
                ("AWS_LAMBDA_RUNTIME_API", runtime_api),
                ("AWS_LAMBDA_FUNCTION_NAME", name),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
                ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
                ("AWS_LAMBDA_LOG_GROUP_NAME", &format!("/aws/lambda/{name}")),
                ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/26/[$LATEST]0123456789abcdef"),
                ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
                ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ])
            .envs(extra_env.iter().copied())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the function binary");
        let mut out = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let lines = tokio::spawn(async move {
            let mut lines = Vec::new();
            while let Ok(Some(line)) = out.next_line().await {
                lines.push(line);
            }
            lines
        });
        Self { child, started, lines }
    }

    /// The most memory the process has held (VmHWM), KiB; Linux only.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Stops the function and answers what it wrote to stdout.
    pub async fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill().await;
        self.lines.await.unwrap_or_default()
    }
}
