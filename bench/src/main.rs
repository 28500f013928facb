//! `commander-bench`: the figures in BENCHMARKS.md, each beside a minimal baseline built the same
//! way on the same machine. Run by `bench/run`, which builds the release binaries, starts the
//! DynamoDB-API server and writes the report; this prints the measured sections as Markdown.
//!
//! - Cold start: each function's release binary started as Lambda starts it, under a Runtime API
//!   served here: time from exec to its first `next` poll and to its first answered event, median
//!   of `--runs`, as a ratio to a minimal lambda_runtime function.
//! - Handling: a warming ping and a second typical event in the same container, and peak memory.
//! - API: `commander serve` on loopback under `--connections` keep-alive connections for
//!   `--seconds` per route, against a bare axum server answering `GET /`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use integration_tests::runtime_api::{Function, RuntimeApi};
use serde_json::{Value, json};
use shared::warming::ping::WarmPing;
use tokio::io::AsyncBufReadExt;

#[derive(Debug, Parser)]
struct Args {
    /// Where the release binaries are.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// The DynamoDB-API server the functions use.
    #[arg(long)]
    dynamodb: String,
    /// Cold starts per function (the median is reported).
    #[arg(long, default_value_t = 15)]
    runs: usize,
    /// Load per API route, seconds.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    #[arg(long, default_value_t = 16)]
    connections: usize,
}

fn fixture(name: &str) -> anyhow::Result<Value> {
    let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    Ok(serde_json::from_str(&std::fs::read_to_string(&path).with_context(|| path.clone())?)?)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One function's typical event, and a second one its container handles warm.
fn events(function: &str) -> anyhow::Result<(Value, Value)> {
    Ok(match function {
        "api" => {
            let e = fixture("apigw-v2-get-scaling-status.json")?;
            (e.clone(), e)
        }
        "scaler" => {
            // A transition of now (older ones are too old to act on), and the next one a minute on.
            let stamp =
                |at: chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string();
            let mut first = fixture("cloudwatch-alarm-direct-high.json")?;
            let now = chrono::Utc::now();
            first["alarmData"]["state"]["timestamp"] = stamp(now).into();
            let mut later = first.clone();
            later["alarmData"]["state"]["timestamp"] = stamp(now + chrono::Duration::minutes(1)).into();
            (first, later)
        }
        "cost-sweeper" | "warmer" => {
            let first = fixture("eventbridge-scheduled-event.json")?;
            let mut later = first.clone();
            later["id"] = "bench-second-scheduled-event".into();
            (first, later)
        }
        _ => (json!({"hello": "world"}), json!({"hello": "again"})),
    })
}

#[derive(Debug, Default)]
struct ColdStarts {
    to_poll_ms: Vec<f64>,
    to_answer_ms: Vec<f64>,
    ping_ms: Vec<f64>,
    warm_ms: Vec<f64>,
    peak_rss_kib: Vec<f64>,
}

async fn cold_starts(args: &Args, function: &str) -> anyhow::Result<ColdStarts> {
    let binary = args.bin_dir.join(function);
    if !binary.exists() {
        bail!("{} is missing: build the release binaries first (bench/run does)", binary.display());
    }
    let (first, second) = events(function)?;
    let ping = WarmPing { correlation_id: "bench".into(), concurrency: 1, hold_ms: 0 }.payload();
    let mut out = ColdStarts::default();
    for _ in 0..args.runs {
        // A fresh table each run: scheduled events and alarms are handled once per table.
        let clock = std::sync::Arc::new(shared::clock::SystemClock);
        let table =
            integration_tests::fresh_dynamo_store(&args.dynamodb, clock).await.table_name().to_owned();
        let mut runtime =
            RuntimeApi::serve(&[("cold", first.clone()), ("ping", ping.clone()), ("warm", second.clone())])
                .await;
        let env = [
            ("COMMANDER_TABLE_NAME", table.as_str()),
            ("COMMANDER_DYNAMODB_ENDPOINT", args.dynamodb.as_str()),
            ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
        ];
        let f = Function::spawn(&binary.to_string_lossy(), function, &runtime.address, &env);
        let answers = runtime.answers(3).await;
        if let Some(Err(e)) = answers.get("cold") {
            bail!("{function} failed its first event: {e}");
        }
        let took = |id: &str| runtime.timing(id).map(|(handed, answered)| answered - handed);
        let poll = runtime.first_poll().context("never polled")?;
        let (_, cold_answered) = runtime.timing("cold").context("no cold answer")?;
        out.to_poll_ms.push(ms(poll - f.started));
        out.to_answer_ms.push(ms(cold_answered - f.started));
        out.ping_ms.push(took("ping").map_or(f64::NAN, ms));
        out.warm_ms.push(took("warm").map_or(f64::NAN, ms));
        out.peak_rss_kib.push(f.peak_rss_kib().map_or(f64::NAN, |k| k as f64));
        f.stop().await;
    }
    Ok(out)
}

/// An HTTP/1 connection to `addr`, driven in the background.
async fn connect(addr: &str) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

fn request(
    addr: &str,
    method: hyper::Method,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<hyper::Request<Full<Bytes>>> {
    let payload = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    Ok(hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr)
        .header("content-type", "application/json")
        .body(Full::new(payload))?)
}

/// A keep-alive HTTP/1 connection sending `request` until `until`, its latencies in µs.
async fn hammer(
    addr: String,
    method: hyper::Method,
    path: &'static str,
    body: Option<Value>,
    until: Instant,
) -> anyhow::Result<(Histogram<u64>, u64)> {
    let mut sender = connect(&addr).await?;
    let mut latencies = Histogram::new_with_bounds(1, 60_000_000, 3)?;
    let mut failures = 0;
    while Instant::now() < until {
        let request = request(&addr, method.clone(), path, body.as_ref())?;
        let started = Instant::now();
        let response = sender.send_request(request).await?;
        let ok = response.status().is_success();
        response.into_body().collect().await?;
        latencies.record(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX).max(1))?;
        failures += u64::from(!ok);
    }
    Ok((latencies, failures))
}

async fn send_once(
    addr: &str,
    method: hyper::Method,
    path: &str,
    body: &Value,
) -> anyhow::Result<hyper::StatusCode> {
    let mut sender = connect(addr).await?;
    let response = sender.send_request(request(addr, method, path, Some(body))?).await?;
    let status = response.status();
    response.into_body().collect().await?;
    Ok(status)
}

struct Load {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    failures: u64,
}

async fn load(
    args: &Args,
    addr: &str,
    method: hyper::Method,
    path: &'static str,
    body: Option<Value>,
) -> anyhow::Result<Load> {
    let until = Instant::now() + Duration::from_secs(args.seconds);
    let tasks: Vec<_> = (0..args.connections)
        .map(|_| tokio::spawn(hammer(addr.to_owned(), method.clone(), path, body.clone(), until)))
        .collect();
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut failures = 0;
    for t in tasks {
        let (h, f) = t.await??;
        all.add(&h)?;
        failures += f;
    }
    Ok(Load {
        per_second: all.len() as f64 / args.seconds as f64,
        p50_ms: all.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: all.value_at_quantile(0.99) as f64 / 1000.0,
        failures,
    })
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn wait_for_health(addr: &str) -> anyhow::Result<()> {
    for _ in 0..100 {
        if let Ok(stream) = tokio::net::TcpStream::connect(addr).await {
            drop(stream);
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("nothing listens on {addr}")
}

async fn api_throughput(args: &Args, out: &mut String) -> anyhow::Result<()> {
    use std::fmt::Write;
    let mut hello = tokio::process::Command::new(args.bin_dir.join("hello-axum"))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("hello-axum")?;
    let stdout = hello.stdout.take().context("hello-axum's stdout")?;
    let hello_addr =
        tokio::io::BufReader::new(stdout).lines().next_line().await?.context("hello-axum's address")?;
    let port = free_port()?;
    let commander_addr = format!("127.0.0.1:{port}");
    let _commander = tokio::process::Command::new(args.bin_dir.join("commander"))
        .args(["serve", "--memory", "--addr", &commander_addr, "--sweep-every-minutes", "10000"])
        .env("COMMANDER_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("commander serve")?;
    wait_for_health(&commander_addr).await?;
    // Replicas with room for every selection the load makes.
    for i in 0..10 {
        let beat = json!({"agent_type": "detection", "replica_id": format!("r{i}"), "region": "us-east-1",
                          "load": 0, "capacity": 100_000_000, "healthy": true, "performance_score": 0.9});
        let status = send_once(&commander_addr, hyper::Method::POST, "/replicas/heartbeat", &beat).await?;
        if !status.is_success() {
            bail!("the heartbeat that sets up the load was refused: {status}");
        }
    }
    let baseline = load(args, &hello_addr, hyper::Method::GET, "/", None).await?;
    let status = load(args, &commander_addr, hyper::Method::GET, "/scaling/status", None).await?;
    let select = load(
        args,
        &commander_addr,
        hyper::Method::POST,
        "/replicas/select",
        Some(json!({"agent_type": "detection", "severity": "high"})),
    )
    .await?;
    let _ = writeln!(
        out,
        "| route | requests/s | p50 ms | p99 ms | non-2xx | throughput vs bare axum |\n|---|---|---|---|---|---|"
    );
    for (name, l) in [
        ("bare axum `GET /`", &baseline),
        ("`GET /scaling/status`", &status),
        ("`POST /replicas/select`", &select),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {:.0} | {:.2} | {:.2} | {} | {:.2} |",
            l.per_second,
            l.p50_ms,
            l.p99_ms,
            l.failures,
            l.per_second / baseline.per_second
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    use std::fmt::Write;
    let args = Args::parse();
    let mut out = String::new();
    let functions = ["hello-lambda", "api", "scaler", "cost-sweeper", "warmer"];
    let mut rows = Vec::new();
    for function in functions {
        eprintln!("cold starts: {function} x {}", args.runs);
        let c = cold_starts(&args, function).await?;
        rows.push((
            function,
            median(c.to_poll_ms),
            median(c.to_answer_ms),
            median(c.ping_ms),
            median(c.warm_ms),
            median(c.peak_rss_kib),
        ));
    }
    let base = rows[0];
    let _ = writeln!(
        out,
        "| function | exec to first poll ms | ratio | exec to first answer ms | ratio | warm ping ms | second event ms | peak RSS MiB |\n|---|---|---|---|---|---|---|---|"
    );
    for (function, poll, answer, ping, warm, rss) in &rows {
        let _ = writeln!(
            out,
            "| {function} | {poll:.1} | {:.2} | {answer:.1} | {:.2} | {ping:.2} | {warm:.2} | {:.1} |",
            poll / base.1,
            answer / base.2,
            rss / 1024.0
        );
    }
    let _ = writeln!(out);
    eprintln!("local API under load: {} connections, {} s per route", args.connections, args.seconds);
    api_throughput(&args, &mut out).await?;
    print!("{out}");
    Ok(())
}
