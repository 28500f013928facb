//! `commander serve --memory` as an agent meets it: the binary the workspace builds
//! (`target/debug/commander`, or `COMMANDER_BIN`), on a loopback port it keeps across restarts.
//! For the client and example-agent tests, which run it as a separate process.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `commander serve --memory` on a fixed loopback port, restartable on it.
#[derive(Debug)]
pub struct Serve {
    pub port: u16,
    child: Option<Child>,
}

fn commander_bin() -> std::path::PathBuf {
    std::env::var_os("COMMANDER_BIN").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/commander"),
        Into::into,
    )
}

impl Serve {
    /// Starts it on a free port.
    ///
    /// # Panics
    /// When the binary is missing or does not start within 30 s.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut serve = Self { port, child: None };
        serve.up().await;
        serve
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on its port.
    ///
    /// # Panics
    /// As [`Self::start`].
    pub async fn up(&mut self) {
        let bin = commander_bin();
        assert!(bin.exists(), "{} is missing: cargo build -p local (or set COMMANDER_BIN)", bin.display());
        let child = Command::new(bin)
            .args(["serve", "--memory", "--tick-seconds", "0", "--sweep-every-minutes", "0", "--addr"])
            .arg(format!("127.0.0.1:{}", self.port))
            .env_remove("COMMANDER_REGIONS")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start commander serve");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(Instant::now() < deadline, "commander serve did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops it (a restart is `down` then `up`).
    pub fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.down();
    }
}
