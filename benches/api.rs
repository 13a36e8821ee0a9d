//! Throughput and latency of an authenticated `GET /api/1/status/capture`, next to a bare
//! hyper server answering the same bytes, measured in the same run.
//!
//! The goal: authenticated status at ≥ 0.5 of the bare server's throughput and p99 under
//! 5 ms at 100 connections. Printed, never asserted: a benchmark informs, a test decides.
//!
//! Each server gets its own runtime (2 worker threads) and the load generator a third, so
//! both servers face the same contention for the machine's cores.
#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks stop at once on a broken assumption; their helpers are theirs alone"
)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

const PASSWORD: &str = "bench-password";
const BODY: &[u8] = br#"{"state":"idle"}"#;

fn runtime(name: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Starts castd (library, real store and auth) and returns its address.
fn start_castd(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> SocketAddr {
    rt.block_on(async {
        let mut config = castd::config::Config::for_data_dir(dir);
        config.initial_admin_password = Some(PASSWORD.to_string());
        let daemon = castd::daemon::Daemon::start(config)
            .await
            .expect("castd starts");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(castd::serve::run(daemon, listener, std::future::pending()));
        addr
    })
}

/// Starts the baseline: hyper answering every request with the same JSON.
fn start_bare(rt: &tokio::runtime::Runtime) -> SocketAddr {
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_req: Request<Incoming>| async {
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from_static(BODY)))
                                .unwrap(),
                        )
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        addr
    })
}

struct Figures {
    requests: usize,
    seconds: f64,
    p50: Duration,
    p99: Duration,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

/// `connections` keep-alive clients hammer `addr` for `duration`.
fn load(
    rt: &tokio::runtime::Runtime,
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
) -> Figures {
    let auth: Arc<str> = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("admin:{PASSWORD}"))
    )
    .into();
    rt.block_on(async move {
        let started = Instant::now();
        let deadline = started + duration;
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let auth = auth.clone();
            tasks.push(tokio::spawn(async move {
                let stream = TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let (mut sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .unwrap();
                tokio::spawn(conn);
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let req = Request::get("/api/1/status/capture")
                        .header("host", "bench")
                        .header("authorization", &*auth)
                        .body(Empty::<Bytes>::new())
                        .unwrap();
                    let sent = Instant::now();
                    let response = sender.send_request(req).await.expect("response");
                    assert!(response.status().is_success(), "{}", response.status());
                    let body = response.into_body().collect().await.unwrap().to_bytes();
                    assert_eq!(&body[..], BODY);
                    latencies.push(sent.elapsed());
                }
                latencies
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let seconds = started.elapsed().as_secs_f64();
        all.sort();
        let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
        Figures {
            requests: all.len(),
            seconds,
            p50: pct(0.50),
            p99: pct(0.99),
        }
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    // `cargo bench` passes harness flags such as `--bench`; this benchmark has no options.
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let castd_rt = runtime("castd");
    let bare_rt = runtime("bare");
    let client_rt = runtime("client");
    let castd = start_castd(&castd_rt, dir.path());
    let bare = start_bare(&bare_rt);

    // Warm up: the first request pays the one argon2 verification, later ones hit the cache.
    load(&client_rt, castd, 1, Duration::from_millis(300));
    load(&client_rt, bare, 1, Duration::from_millis(300));

    println!(
        "GET /api/1/status/capture with Basic auth vs bare hyper, {seconds} s per run, 2 cores shared"
    );
    println!(
        "{:>5} | {:>10} {:>8} {:>8} | {:>10} {:>8} {:>8} | {:>6}",
        "conns", "castd r/s", "p50 ms", "p99 ms", "bare r/s", "p50 ms", "p99 ms", "ratio"
    );
    let mut at_100 = None;
    for connections in [1, 16, 100] {
        let c = load(&client_rt, castd, connections, Duration::from_secs(seconds));
        let b = load(&client_rt, bare, connections, Duration::from_secs(seconds));
        let ratio = c.rate() / b.rate();
        println!(
            "{connections:>5} | {:>10.0} {:>8.3} {:>8.3} | {:>10.0} {:>8.3} {:>8.3} | {ratio:>6.2}",
            c.rate(),
            ms(c.p50),
            ms(c.p99),
            b.rate(),
            ms(b.p50),
            ms(b.p99)
        );
        if connections == 100 {
            at_100 = Some((ratio, c.p99));
        }
    }
    if let Some((ratio, p99)) = at_100 {
        println!(
            "goal at 100 connections: ratio ≥ 0.50 → {ratio:.2} ({}), p99 < 5 ms → {:.3} ms ({})",
            if ratio >= 0.5 { "met" } else { "missed" },
            ms(p99),
            if p99 < Duration::from_millis(5) {
                "met"
            } else {
                "missed"
            }
        );
    }
}
