//! A Lambda service on loopback for one function: the Invoke API in front, the Runtime API behind,
//! and as many containers (real function binaries started as Lambda starts them) as asked for. An
//! invocation waits in a queue until a container is free, so concurrent invocations spread over
//! the containers exactly as far as there are containers, as in Lambda.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::sync::{Notify, oneshot};

use crate::runtime_api::Function;

const RUNTIME: &str = "/2018-06-01/runtime";

type Reply = oneshot::Sender<Result<String, String>>;

#[derive(Clone)]
struct Shared {
    function: String,
    queue: Arc<Mutex<VecDeque<(String, String)>>>,
    waiting: Arc<Mutex<HashMap<String, Reply>>>,
    arrived: Arc<Notify>,
    /// Containers waiting in `next` for work.
    idle: Arc<std::sync::atomic::AtomicUsize>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `POST /2015-03-31/functions/{name}/invocations`.
async fn invoke(State(s): State<Shared>, Path(name): Path<String>, body: String) -> Response {
    if name != s.function {
        let mut headers = HeaderMap::new();
        headers.insert("x-amzn-ErrorType", "ResourceNotFoundException".parse().expect("header"));
        let body = json!({"Type": "User", "Message": format!("Function not found: {name}")});
        return (StatusCode::NOT_FOUND, headers, body.to_string()).into_response();
    }
    let id = uuid::Uuid::new_v4().to_string();
    let (tx, rx) = oneshot::channel();
    lock(&s.waiting).insert(id.clone(), tx);
    lock(&s.queue).push_back((id, body));
    s.arrived.notify_one();
    match rx.await {
        Ok(Ok(payload)) => (StatusCode::OK, payload).into_response(),
        Ok(Err(error)) => {
            let mut headers = HeaderMap::new();
            headers.insert("X-Amz-Function-Error", "Unhandled".parse().expect("header"));
            (StatusCode::OK, headers, error).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn next(State(s): State<Shared>) -> Response {
    s.idle.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    loop {
        let arrived = s.arrived.notified();
        let job = lock(&s.queue).pop_front();
        if let Some((id, body)) = job {
            s.idle.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            let mut headers = HeaderMap::new();
            let header = |v: &str| v.parse().expect("a valid header value");
            headers.insert("Lambda-Runtime-Aws-Request-Id", header(&id));
            let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
            headers.insert("Lambda-Runtime-Deadline-Ms", header(&deadline.to_string()));
            headers.insert(
                "Lambda-Runtime-Invoked-Function-Arn",
                header(&format!("arn:aws:lambda:us-east-1:123456789012:function:{}", s.function)),
            );
            return (headers, body).into_response();
        }
        arrived.await;
    }
}

async fn respond(State(s): State<Shared>, Path(id): Path<String>, body: String) -> &'static str {
    if let Some(reply) = lock(&s.waiting).remove(&id) {
        let _ = reply.send(Ok(body));
    }
    "{\"status\":\"OK\"}"
}

async fn fail(State(s): State<Shared>, Path(id): Path<String>, body: String) -> &'static str {
    if let Some(reply) = lock(&s.waiting).remove(&id) {
        let _ = reply.send(Err(body));
    }
    "{\"status\":\"OK\"}"
}

/// One function's Lambda service with its containers.
#[derive(Debug)]
pub struct LocalLambda {
    /// `http://host:port`: the endpoint for a Lambda client (`COMMANDER_LAMBDA_ENDPOINT`).
    pub endpoint: String,
    containers: Vec<Function>,
}

impl LocalLambda {
    /// Serves `function` with `containers` copies of `binary` (each with `env`).
    pub async fn start(function: &str, binary: &str, containers: usize, env: &[(&str, &str)]) -> Self {
        let shared = Shared {
            function: function.to_owned(),
            queue: Arc::new(Mutex::new(VecDeque::new())),
            waiting: Arc::new(Mutex::new(HashMap::new())),
            arrived: Arc::new(Notify::new()),
            idle: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        };
        let idle = Arc::clone(&shared.idle);
        let app = Router::new()
            .route("/2015-03-31/functions/{name}/invocations", post(invoke))
            .route(&format!("{RUNTIME}/invocation/next"), get(next))
            .route(&format!("{RUNTIME}/invocation/{{id}}/response"), post(respond))
            .route(&format!("{RUNTIME}/invocation/{{id}}/error"), post(fail))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let address = listener.local_addr().expect("local address").to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.expect("the local Lambda serves") });
        let started: Vec<Function> =
            (0..containers).map(|_| Function::spawn(binary, function, &address, env)).collect();
        // Ready when every container waits for work, as a warmed-up Lambda fleet would.
        let all_idle = async {
            while idle.load(std::sync::atomic::Ordering::SeqCst) < containers {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(60), all_idle)
            .await
            .expect("the containers start");
        Self { endpoint: format!("http://{address}"), containers: started }
    }

    /// Stops every container.
    pub async fn stop(self) {
        for c in self.containers {
            c.stop().await;
        }
    }
}
