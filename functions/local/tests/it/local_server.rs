//! `commander serve` as a user runs it, for the tests that need one: a real process on
//! loopback, found by the URL it logs.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
}

pub(crate) async fn start(state: &Path) -> Server {
    start_with(&["--state".as_ref(), state.as_os_str()]).await
}

pub(crate) async fn start_with(args: &[&std::ffi::OsStr]) -> Server {
    start_with_env(args, &[]).await
}

pub(crate) async fn start_with_env(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_commander"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("COMMANDER_REGIONS")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start commander");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(at) = line.find("http://") {
                return line[at..].split_whitespace().next().unwrap().trim_end_matches('/').to_owned();
            }
        }
        panic!("commander exited before serving");
    })
    .await
    .expect("commander logs its URL");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Server { child, base }
}

impl Server {
    pub(crate) async fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let host = self.base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(host).await.unwrap();
        let body = body.map(Value::to_string).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status = response[9..12].parse().unwrap();
        let (_, body) = response.split_once("\r\n\r\n").unwrap();
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    /// A POST with the given `Host` and extra header lines (each ending in `\r\n`): the status.
    pub(crate) async fn post_as(&self, path: &str, host: &str, extra: &str) -> u16 {
        let address = self.base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).await.unwrap();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response[9..12].parse().unwrap()
    }

    /// Stops it as Ctrl-C or a service manager would, and checks it exits cleanly.
    pub(crate) async fn stop(mut self) {
        let pid = self.child.id().unwrap().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status().await.unwrap();
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.unwrap().unwrap();
        assert!(status.success(), "clean shutdown: {status}");
    }
}
