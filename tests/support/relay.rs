//! A TCP relay in front of the DynamoDB-API server that can be cut and restored, as an endpoint or
//! network outage looks to a client: open connections are dropped and new ones closed at once.
//! It can also cut itself after a number of requests, so an outage can start in the middle of a
//! handler's run. (Stopping the server itself would lose its in-memory tables; the relay keeps them.)
//! And it can hold every request for a fixed time before passing it on, as a real DynamoDB's
//! round trip is slower than a loopback server's, counting the requests it passed.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Every DynamoDB call is one `POST /` request.
const REQUEST_LINE: &[u8] = b"POST / HTTP/1.1";

#[derive(Debug)]
pub struct Relay {
    pub url: String,
    up: watch::Sender<bool>,
    /// Requests still let through before the relay cuts itself (negative: no limit).
    budget: Arc<AtomicI64>,
    /// How long each request is held before it is passed on, µs.
    delay_us: Arc<AtomicU64>,
    /// Requests passed on so far.
    passed: Arc<AtomicU64>,
}

fn requests_in(chunk: &[u8]) -> i64 {
    chunk.windows(REQUEST_LINE.len()).filter(|w| *w == REQUEST_LINE).count() as i64
}

impl Relay {
    pub async fn start(target: &str) -> Self {
        let target = target.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let (up, watching) = watch::channel(true);
        let budget = Arc::new(AtomicI64::new(-1));
        let (delay_us, passed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (cutter, counted) = (up.clone(), Arc::clone(&budget));
        let (delaying, passing) = (Arc::clone(&delay_us), Arc::clone(&passed));
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let mut state = watching.clone();
                if !*state.borrow() {
                    continue; // dropped: the client sees its connection closed
                }
                let (target, cutter, counted) = (target.clone(), cutter.clone(), Arc::clone(&counted));
                let (delaying, passing) = (Arc::clone(&delaying), Arc::clone(&passing));
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(&target).await else { return };
                    let (mut in_read, mut in_write) = inbound.into_split();
                    let (mut out_read, mut out_write) = outbound.into_split();
                    let upstream = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match in_read.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            let requests = requests_in(&buf[..n]);
                            if requests > 0 && counted.load(Ordering::SeqCst) >= 0 {
                                let left = counted.fetch_sub(requests, Ordering::SeqCst) - requests;
                                if left < 0 {
                                    counted.store(-1, Ordering::SeqCst);
                                    cutter.send_replace(false);
                                    return;
                                }
                            }
                            let delay = delaying.load(Ordering::SeqCst);
                            if requests > 0 && delay > 0 {
                                tokio::time::sleep(Duration::from_micros(delay)).await;
                            }
                            passing.fetch_add(requests.unsigned_abs(), Ordering::SeqCst);
                            if out_write.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    let downstream = tokio::io::copy(&mut out_read, &mut in_write);
                    tokio::select! {
                        () = upstream => {}
                        _ = downstream => {}
                        _ = state.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { url, up, budget, delay_us, passed }
    }

    /// Holds every request for `delay` before passing it on (zero: at once).
    pub fn set_delay(&self, delay: Duration) {
        self.delay_us.store(u64::try_from(delay.as_micros()).unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    /// The requests passed on to the server so far.
    pub fn requests(&self) -> u64 {
        self.passed.load(Ordering::SeqCst)
    }

    /// Cuts (`false`) or restores (`true`) the connection to the server.
    pub fn set(&self, up: bool) {
        if up {
            self.budget.store(-1, Ordering::SeqCst);
        }
        self.up.send_replace(up);
    }

    /// Lets `requests` more requests through, then cuts: the outage begins mid-run.
    pub fn cut_after(&self, requests: i64) {
        self.budget.store(requests, Ordering::SeqCst);
    }
}
