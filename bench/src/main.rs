//! `commander-bench`: the figures in BENCHMARKS.md, each beside a minimal baseline built the same
//! way on the same machine. Run by `bench/run`, which builds the release binaries, starts the
//! DynamoDB-API server and writes the report; this prints the measured sections as Markdown.
//!
//! - Cold start: each function's release binary started as Lambda starts it, under a Runtime API
//!   served here: time from exec to its first `next` poll and to its first answered event, median
//!   of `--runs`, as a ratio to a minimal lambda_runtime function.
//! - Handling: a warming ping and a second typical event in the same container, and peak memory.
//! - API: `commander serve` on loopback loaded by `wrk` (`--connections` keep-alive connections
//!   for `--seconds` per route), against a bare axum server answering `GET /` in the same run.

mod tick;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
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
    #[arg(long, default_value_t = 8)]
    seconds: u64,
    /// Keep-alive connections `wrk` holds open.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Agent types in the tick at scale (besides the five built-in ones).
    #[arg(long, default_value_t = 1000)]
    tick_types: usize,
    /// The `wrk` binary.
    #[arg(long, default_value = "wrk")]
    wrk: PathBuf,
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

/// The round trip a store request takes through `relay` (a `GetItem` of a missing item, the
/// cheapest request), median of 15, ms.
async fn store_round_trip_ms(relay: &integration_tests::relay::Relay, table: &str) -> anyhow::Result<f64> {
    let client = shared::aws::local_dynamodb(&relay.url);
    let mut times = Vec::new();
    for _ in 0..15 {
        let started = std::time::Instant::now();
        client
            .get_item()
            .table_name(table)
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("BENCH".into()))
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("NONE".into()))
            .send()
            .await?;
        times.push(ms(started.elapsed()));
    }
    Ok(median(times))
}

/// The api's first `GET /scaling/status` (a fresh container, a fresh table) with every store
/// request held `STORE_LATENCY` by a relay in front of the DynamoDB-API server, as a real
/// DynamoDB round trip is slower than a loopback server's: how long it took, in store round trips,
/// and how many store requests it made. Median of `--runs`.
const STORE_LATENCY: Duration = Duration::from_millis(5);

async fn first_status_under_latency(args: &Args, out: &mut String) -> anyhow::Result<()> {
    use std::fmt::Write;
    let relay = integration_tests::relay::Relay::start(&args.dynamodb).await;
    relay.set_delay(STORE_LATENCY);
    let binary = args.bin_dir.join("api");
    let event = fixture("apigw-v2-get-scaling-status.json")?;
    let (mut took, mut requests, mut round_trips) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.runs {
        let clock = std::sync::Arc::new(shared::clock::SystemClock);
        let table =
            integration_tests::fresh_dynamo_store(&args.dynamodb, clock).await.table_name().to_owned();
        let round_trip = store_round_trip_ms(&relay, &table).await?;
        let mut runtime = RuntimeApi::serve(&[("status", event.clone())]).await;
        let env = [
            ("COMMANDER_TABLE_NAME", table.as_str()),
            ("COMMANDER_DYNAMODB_ENDPOINT", relay.url.as_str()),
            ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
        ];
        let before = relay.requests();
        let f = Function::spawn(&binary.to_string_lossy(), "api", &runtime.address, &env);
        let answers = runtime.answers(1).await;
        if let Some(Err(e)) = answers.get("status") {
            bail!("the api failed its first status under latency: {e}");
        }
        let (handed, answered) = runtime.timing("status").context("no status answer")?;
        f.stop().await;
        took.push(ms(answered - handed));
        requests.push((relay.requests() - before) as f64);
        round_trips.push(round_trip);
    }
    let (took, requests, round_trip) = (median(took), median(requests), median(round_trips));
    let _ = writeln!(
        out,
        "| store round trip ms (relay {} ms + server) | first `GET /scaling/status` ms | in round trips | store requests |\n|---|---|---|---|\n| {round_trip:.1} | {took:.1} | {:.1} | {requests:.0} |",
        STORE_LATENCY.as_millis(),
        took / round_trip,
    );
    Ok(())
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

/// What `wrk` measured on one route.
#[derive(Debug, Clone, Copy)]
struct Load {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    failures: u64,
}

/// `wrk`'s latency as milliseconds (it prints `812.00us`, `1.23ms`, `1.05s`).
fn wrk_ms(value: &str) -> Option<f64> {
    let (number, unit) = value.split_at(value.find(|c: char| c.is_ascii_alphabetic())?);
    let number: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        _ => return None,
    })
}

/// Reads `wrk --latency`'s report.
fn parse_wrk(report: &str) -> anyhow::Result<Load> {
    let field = |label: &str| {
        report.lines().find_map(|l| l.trim().strip_prefix(label).map(|rest| rest.trim().to_owned()))
    };
    let per_second = field("Requests/sec:").context("no Requests/sec in wrk's report")?.parse()?;
    let latency = |q: &str| field(q).and_then(|v| wrk_ms(&v)).with_context(|| format!("no {q} latency"));
    let failures = field("Non-2xx or 3xx responses:").map_or(Ok(0), |v| v.parse())?;
    let errors: u64 = field("Socket errors:").map_or(0, |v| {
        v.split(',').filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok()).sum()
    });
    Ok(Load { per_second, p50_ms: latency("50%")?, p99_ms: latency("99%")?, failures: failures + errors })
}

/// `wrk` (a standard HTTP load generator, installed by bench/run) against `url` for
/// `--seconds` with `--connections` keep-alive connections on two threads; a POST with `body`.
async fn load(args: &Args, url: &str, body: Option<&Value>) -> anyhow::Result<Load> {
    let mut command = tokio::process::Command::new(&args.wrk);
    command.args([
        "--threads",
        "2",
        "--connections",
        &args.connections.to_string(),
        "--duration",
        &format!("{}s", args.seconds),
        "--latency",
    ]);
    let script = if let Some(body) = body {
        let script = std::env::temp_dir().join(format!("commander-bench-{}.lua", std::process::id()));
        let lua = format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = {:?}\n",
            body.to_string()
        );
        std::fs::write(&script, lua)?;
        command.args(["--script", &script.to_string_lossy()]);
        Some(script)
    } else {
        None
    };
    let output = command.arg(url).stderr(Stdio::inherit()).output().await.context("running wrk")?;
    if let Some(script) = script {
        let _ = std::fs::remove_file(script);
    }
    if !output.status.success() {
        bail!("wrk failed on {url}: {}", String::from_utf8_lossy(&output.stdout));
    }
    parse_wrk(&String::from_utf8_lossy(&output.stdout))
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
        .args([
            "serve",
            "--memory",
            "--addr",
            &commander_addr,
            "--sweep-every-minutes",
            "0",
            "--tick-seconds",
            "0",
        ])
        .env("COMMANDER_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("commander serve")?;
    wait_for_health(&commander_addr).await?;
    // Replicas with room for every selection the load makes.
    for i in 0..10 {
        let beat = json!({"agent_type": "detection", "replica_id": format!("r{i}"), "region": "us-east-1",
                          "load": 0, "capacity": 100_000, "healthy": true, "performance_score": 0.9});
        let status = send_once(&commander_addr, hyper::Method::POST, "/replicas/heartbeat", &beat).await?;
        if !status.is_success() {
            bail!("the heartbeat that sets up the load was refused: {status}");
        }
    }
    let baseline = load(args, &format!("http://{hello_addr}/"), None).await?;
    let health = load(args, &format!("http://{commander_addr}/health"), None).await?;
    let status = load(args, &format!("http://{commander_addr}/scaling/status"), None).await?;
    let select = load(
        args,
        &format!("http://{commander_addr}/replicas/select"),
        Some(&json!({"agent_type": "detection", "severity": "high"})),
    )
    .await?;
    let _ = writeln!(
        out,
        "| route | requests/s | p50 ms | p99 ms | non-2xx | throughput vs bare axum |\n|---|---|---|---|---|---|"
    );
    for (name, l) in [
        ("bare axum `GET /`", &baseline),
        ("`GET /health`", &health),
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
    eprintln!("first status under {} ms of store latency x {}", STORE_LATENCY.as_millis(), args.runs);
    first_status_under_latency(&args, &mut out).await?;
    let _ = writeln!(out);
    eprintln!(
        "one tick over {} agent types under {} ms of store latency",
        args.tick_types,
        STORE_LATENCY.as_millis()
    );
    let relay = integration_tests::relay::Relay::start(&args.dynamodb).await;
    relay.set_delay(STORE_LATENCY);
    let t = tick::tick_at_scale(&args.dynamodb, &relay, args.tick_types).await?;
    let _ = writeln!(
        out,
        "| one tick: agent types x regions | seconds | store requests | per type | evaluated | failed |\n|---|---|---|---|---|---|\n| {} x {} | {:.1} | {} | {:.1} | {} | {} |\n",
        t.types,
        t.regions,
        t.seconds,
        t.requests,
        t.requests as f64 / t.types.max(1) as f64,
        t.evaluated,
        t.failed,
    );
    eprintln!("local API under load: {} connections, {} s per route", args.connections, args.seconds);
    api_throughput(&args, &mut out).await?;
    print!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What wrk 4.1 printed against a loopback server (`--latency`), and with socket errors.
    const REPORT: &str = "Running 1s test @ http://127.0.0.1:8765/
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     6.26ms    5.06ms  28.38ms   77.60%
    Req/Sec   350.75    133.30   570.00     60.00%
  Latency Distribution
     50%  812.00us
     75%    9.16ms
     90%   13.52ms
     99%    1.05s
  700 requests in 1.00s, 1.26MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:    697.93
Transfer/sec:      1.26MB
";

    #[test]
    fn reads_wrks_report() {
        let load = parse_wrk(REPORT).unwrap();
        assert!((load.per_second - 697.93).abs() < 1e-9);
        assert!((load.p50_ms - 0.812).abs() < 1e-9);
        assert!((load.p99_ms - 1050.0).abs() < 1e-9);
        assert_eq!(load.failures, 12, "7 non-2xx answers and 5 socket errors");
    }

    #[test]
    fn a_report_without_a_rate_is_an_error() {
        assert!(parse_wrk("unable to connect to 127.0.0.1:1 Connection refused").is_err());
    }
}
