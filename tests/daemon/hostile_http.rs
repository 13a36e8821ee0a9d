//! Hostile HTTP: connections that never finish their headers (slowloris), bodies of a
//! hundred thousand parameters, requests forged by other sites' pages, and framing. Each
//! attack is run against the real daemon; it keeps answering a real client throughout, and
//! the figures printed here are the ones in docs/reliability-hostile.md.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use crate::common::{ADMIN_PASSWORD, Options, RELAXED_AUTH, TestDaemon};

/// A request head that is never finished.
const PARTIAL_HEAD: &[u8] = b"GET /api/1/health HTTP/1.1\r\nHost: unit\r\nX-Slow: ";

fn addr(d: &TestDaemon) -> SocketAddr {
    d.url.trim_start_matches("http://").parse().unwrap()
}

/// A connection from `from` (any 127.x.y.z works on Linux), so tests can be many clients.
async fn connect_from(from: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from.into(), 0))?;
    tokio::time::timeout(Duration::from_secs(10), socket.connect(to))
        .await
        .map_err(|_| std::io::Error::other("connect timed out"))?
}

/// Whether the server has closed `stream` (end of stream or reset), without waiting.
fn closed_by_server(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match stream.try_read(&mut buf) {
            Ok(0) => return true,
            // An answer (a 503, a 408) is read past; what matters is the end.
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Sets the daemon's soft limit on open files, as systemd's default (1024) would be.
fn limit_open_files(pid: u32, soft: u64) {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit reads and writes only the structs given.
    let got = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            std::ptr::null(),
            &mut old,
        )
    };
    assert_eq!(got, 0, "read the daemon's open-file limit");
    let new = libc::rlimit {
        rlim_cur: soft.min(old.rlim_max),
        rlim_max: old.rlim_max,
    };
    // SAFETY: as above.
    let set = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            &new,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(set, 0, "set the daemon's open-file limit");
}

/// This test process holds well over a thousand sockets: raise its own soft limit.
fn allow_many_sockets() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write only the struct given.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max.min(65536);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}

/// An authenticated status poll on a new connection, with its time.
async fn status_from_new_connection(d: &TestDaemon) -> (Result<StatusCode, String>, Duration) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let started = Instant::now();
    let result = client
        .get(format!("{}/api/1/status", d.url))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .map(|r| r.status())
        .map_err(|e| e.to_string());
    (result, started.elapsed())
}

#[tokio::test]
async fn a_thousand_stalled_headers_neither_exhaust_descriptors_nor_lock_out_a_new_client() {
    allow_many_sockets();
    let d = TestDaemon::start().await;
    let pid = d.child().id();
    // What systemd gives a unit without LimitNOFILE.
    limit_open_files(pid, 1024);
    let fds_before = open_fds(pid);

    // 1,100 connections from five addresses (220 each, under the per-address cap): more
    // than the total cap (512) and more than the open-file limit.
    let sources: Vec<Ipv4Addr> = (2..=6).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect();
    let mut stalled = Vec::new();
    let mut connect_failures = 0;
    let started = Instant::now();
    for i in 0..1100 {
        match connect_from(sources[i % sources.len()], addr(&d)).await {
            Ok(mut stream) => {
                if stream.write_all(PARTIAL_HEAD).await.is_ok() {
                    stalled.push(stream);
                }
            }
            Err(_) => connect_failures += 1,
        }
    }
    let opened_in = started.elapsed();
    assert!(
        stalled.len() >= 1000,
        "{} stalled connections opened",
        stalled.len()
    );

    let (status, latency) = status_from_new_connection(&d).await;
    let fds_during = open_fds(pid);
    eprintln!(
        "slowloris: {} stalled connections opened in {:.1} s ({connect_failures} failed to connect); castd fds {fds_before} -> {fds_during} (soft limit 1024); authenticated /status from a new connection: {status:?} in {:.0} ms",
        stalled.len(),
        opened_in.as_secs_f64(),
        latency.as_secs_f64() * 1000.0
    );
    assert_eq!(
        status,
        Ok(StatusCode::OK),
        "a new client must be served while stalled connections are open"
    );
    assert!(
        fds_during < 1024,
        "castd holds {fds_during} descriptors; the stalled connections must not take them all"
    );

    // At the total cap each new connection took the place of the one waiting longest, so
    // castd holds at most 512 of them; the rest were closed at once.
    let mut evicted = 0;
    for _ in 0..40 {
        evicted = stalled.iter().filter(|s| closed_by_server(s)).count();
        if stalled.len() - evicted <= 512 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let held = stalled.len() - evicted;
    eprintln!("slowloris: castd holds {held} stalled connections, closed {evicted} at once");
    assert!(held <= 512, "castd holds {held} stalled connections");

    // The rest are closed when their header time (10 s) runs out.
    let waiting = Instant::now();
    let mut still_open = held;
    while still_open > 0 && waiting.elapsed() < Duration::from_secs(40) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        still_open = stalled.iter().filter(|s| !closed_by_server(s)).count();
    }
    eprintln!(
        "slowloris: {} of {} stalled connections closed by castd {:.1} s later; castd fds now {}",
        stalled.len() - still_open,
        stalled.len(),
        waiting.elapsed().as_secs_f64(),
        open_fds(pid)
    );
    assert_eq!(
        still_open, 0,
        "stalled connections must be closed after the header timeout"
    );
    let (status, _) = status_from_new_connection(&d).await;
    assert_eq!(status, Ok(StatusCode::OK));
}

/// Reads one answer (head and a `Content-Length` body) from a kept-alive connection.
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("castd answers")
            .unwrap();
        assert!(n > 0, "castd closed the connection mid-answer: {text}");
        answer.extend_from_slice(&buf[..n]);
    }
}

/// Waits up to `limit` for castd to close `stream`; how long it took.
async fn closed_within(stream: &TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if closed_by_server(stream) {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[tokio::test]
async fn a_head_must_come_quickly_but_a_kept_alive_connection_may_rest_until_idle() {
    let d = TestDaemon::start_with(Options {
        config_toml: format!(
            "{RELAXED_AUTH}[http]\nheader_read_timeout_secs = 2\nidle_timeout_secs = 12\n"
        ),
        ..Options::default()
    })
    .await;
    let local = Ipv4Addr::LOCALHOST;

    // A kept-alive connection that rests longer than the header timeout is still served.
    let mut kept = connect_from(local, addr(&d)).await.unwrap();
    for round in 0..2 {
        kept.write_all(b"GET /api/1/health HTTP/1.1\r\nHost: unit\r\n\r\n")
            .await
            .unwrap();
        let answer = read_answer(&mut kept).await;
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "round {round}: {answer}"
        );
        if round == 0 {
            tokio::time::sleep(Duration::from_secs(4)).await;
        }
    }
    let rested = Instant::now();

    // A head trickled a byte at a time is cut off at the header timeout, although bytes
    // keep coming.
    let mut slow = connect_from(local, addr(&d)).await.unwrap();
    let started = Instant::now();
    let mut sent = 0usize;
    let bytes = PARTIAL_HEAD.iter().copied().chain(std::iter::repeat(b'a'));
    for byte in bytes {
        if closed_by_server(&slow)
            || slow.write_all(&[byte]).await.is_err()
            || started.elapsed() > Duration::from_secs(30)
        {
            break;
        }
        sent += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let trickle_closed = closed_within(&slow, Duration::from_secs(5)).await;
    eprintln!(
        "head timeout 2 s: a head trickled at 5 bytes/s closed after {:.1} s ({sent} bytes sent)",
        started.elapsed().as_secs_f64()
    );
    assert!(
        trickle_closed.is_some() && started.elapsed() < Duration::from_secs(30),
        "a trickled head must be cut off"
    );

    // The rested connection is closed once it has been idle for the idle timeout.
    let idle = closed_within(&kept, Duration::from_secs(45)).await;
    eprintln!(
        "idle timeout 12 s: the unused kept-alive connection closed {:.1} s after its last answer",
        rested.elapsed().as_secs_f64()
    );
    assert!(
        idle.is_some(),
        "an unused kept-alive connection must be closed"
    );
}

#[tokio::test]
async fn an_answer_given_before_the_body_was_read_tells_the_client_to_reconnect() {
    let d = TestDaemon::start().await;
    // A refusal that reads no body (no credentials) while most of a large body is still on
    // its way: castd closes the connection after the answer, so the answer must say so, or
    // a client would send its next request into the closing connection.
    let mut stream = connect_from(Ipv4Addr::LOCALHOST, addr(&d)).await.unwrap();
    stream
        .write_all(
            b"POST /api/1/maintenance/restore HTTP/1.1\r\nHost: unit\r\n\
              Content-Type: application/octet-stream\r\nContent-Length: 524288\r\n\r\n",
        )
        .await
        .unwrap();
    stream.write_all(&[b'x'; 1024]).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        // A reset after the answer is fine; the answer's head is what matters.
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(read.is_ok(), "castd must answer and close: {answer}");
    assert!(answer.starts_with("http/1.1 401"), "{answer}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");

    // An answer to a request whose body was read keeps the connection.
    let reply = d
        .post("/api/1/capture/marker")
        .admin()
        .form(&[("x", "1")])
        .send()
        .await;
    assert_ne!(
        reply
            .headers
            .get("connection")
            .and_then(|v| v.to_str().ok()),
        Some("close"),
        "{}",
        reply.text
    );
}

/// Sends `request` as is from `from` and reads the answer until castd closes.
async fn raw_exchange(from: Ipv4Addr, to: SocketAddr, request: &[u8]) -> String {
    let mut stream = connect_from(from, to).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("castd answers and closes")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

fn body_of(answer: &str) -> Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or(Value::Null)
}

#[tokio::test]
async fn an_address_beyond_its_cap_is_told_503_and_other_addresses_are_served_as_themselves() {
    let d = TestDaemon::start_with(Options {
        config_toml: format!("{RELAXED_AUTH}[http]\nmax_connections_per_address = 8\n"),
        ..Options::default()
    })
    .await;
    let hog = Ipv4Addr::new(127, 0, 0, 7);
    let mut stalled = Vec::new();
    for _ in 0..8 {
        let mut stream = connect_from(hog, addr(&d)).await.unwrap();
        stream.write_all(PARTIAL_HEAD).await.unwrap();
        stalled.push(stream);
    }
    let started = Instant::now();
    let answer = raw_exchange(
        hog,
        addr(&d),
        b"GET /api/1/health HTTP/1.1\r\nHost: unit\r\n\r\n",
    )
    .await;
    eprintln!(
        "per-address cap: the 9th connection from one address answered in {:.0} ms: {}",
        started.elapsed().as_secs_f64() * 1000.0,
        answer.lines().next().unwrap_or_default()
    );
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("retry-after: 5\r\n"), "{answer}");
    assert!(lower.contains("x-frame-options: deny\r\n"), "{answer}");
    let body = body_of(&answer);
    assert_eq!(body["code"], "http.too_many_connections", "{answer}");
    assert_eq!(body["params"]["scope"], "address", "{answer}");
    assert_eq!(body["params"]["limit"], 8, "{answer}");

    // Another address is served, and castd sees it as itself (the audit trail records the
    // address login throttling counts by).
    let other = Ipv4Addr::new(127, 0, 0, 8);
    let answer = raw_exchange(
        other,
        addr(&d),
        b"POST /api/1/capture/marker HTTP/1.1\r\nHost: unit\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let audit = d
            .get("/api/1/maintenance/audit?limit=1000")
            .admin()
            .send()
            .await;
        assert_eq!(audit.status, StatusCode::OK, "{}", audit.text);
        let seen = audit
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["address"] == "127.0.0.8" && e["path"] == "/api/1/capture/marker");
        if seen {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no audit entry from 127.0.0.8: {}",
            audit.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(stalled);
}

/// `k0&k1&…&k138887`: 138,888 empty parameters in 999,993 bytes.
fn many_parameters() -> String {
    (0..138_888)
        .map(|i| format!("k{i}"))
        .collect::<Vec<_>>()
        .join("&")
}

#[tokio::test]
async fn bodies_of_a_hundred_thousand_parameters_are_refused_at_once_and_health_answers() {
    let d = TestDaemon::start().await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    // The attack's three bodies, and one of values that open JSON and never end.
    let bodies = [
        many_parameters(),
        many_parameters(),
        many_parameters(),
        "k=[\\\"&".repeat(150_000),
    ];
    let started = Instant::now();
    let attacks = bodies.iter().map(|body| {
        let request = client
            .post(format!("{}/api/1/capture/marker", d.url))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.clone());
        async move {
            let response = request.send().await.map_err(|e| e.to_string())?;
            let status = response.status();
            let body: Value = response.json().await.map_err(|e| e.to_string())?;
            Ok::<_, String>((status, body, started.elapsed()))
        }
    });
    let health = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t = Instant::now();
        let status = client
            .get(format!("{}/api/1/health", d.url))
            .send()
            .await
            .map(|r| r.status())
            .map_err(|e| e.to_string());
        (status, t.elapsed())
    };
    let (answers, (health, health_took)) =
        tokio::join!(futures_util::future::join_all(attacks), health);
    for (i, answer) in answers.iter().enumerate() {
        let (status, body, took) = answer
            .as_ref()
            .unwrap_or_else(|e| panic!("body {i} got no answer within 10 s: {e}"));
        eprintln!(
            "many parameters: body {i} answered {status} {} after {:.0} ms",
            body["code"],
            took.as_secs_f64() * 1000.0
        );
        assert_eq!(*status, StatusCode::BAD_REQUEST, "{body}");
        let expected = if i < 3 {
            "request.too_many_params"
        } else {
            "request.malformed_form"
        };
        assert_eq!(body["code"], expected, "{body}");
    }
    eprintln!(
        "many parameters: unauthenticated /health during the attack: {health:?} in {:.0} ms",
        health_took.as_secs_f64() * 1000.0
    );
    assert_eq!(health, Ok(StatusCode::OK));
}

async fn user_exists(d: &TestDaemon, name: &str) -> bool {
    let users = d.get("/api/1/users").admin().send().await;
    assert_eq!(users.status, StatusCode::OK, "{}", users.text);
    users
        .body
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["username"] == name)
}

fn new_user(name: &str) -> String {
    let user = json!({"username": name, "roles": ["Administrator"]}).to_string();
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("user", &user)
        .append_pair("password", "a-long-password")
        .finish()
}

#[tokio::test]
async fn state_changes_from_other_sites_are_refused_and_text_plain_is_not_a_form() {
    let d = TestDaemon::start().await;
    let own_origin = d.url.clone();
    let form = "application/x-www-form-urlencoded";

    // The reported attack: an Administrator created by another site's page.
    for (name, headers) in [
        (
            "evil1",
            vec![
                ("Origin", "http://evil.example"),
                ("Sec-Fetch-Site", "cross-site"),
            ],
        ),
        ("evil2", vec![("Origin", "http://evil.example")]),
        ("evil3", vec![("Sec-Fetch-Site", "cross-site")]),
        ("evil4", vec![("Sec-Fetch-Site", "same-site")]),
        ("evil5", vec![("Origin", "null")]),
        // Same host, another port: another origin.
        ("evil6", vec![("Origin", "http://127.0.0.1:1")]),
    ] {
        let mut request = d.post("/api/1/users").admin().raw(form, new_user(name));
        for (k, v) in &headers {
            request = request.header(k, v);
        }
        let reply = request.send().await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{headers:?}: {}",
            reply.text
        );
        assert_eq!(
            reply.code(),
            "request.cross_site",
            "{headers:?}: {}",
            reply.text
        );
        assert!(!user_exists(&d, name).await, "{headers:?} created {name}");
    }
    // Refused before authentication: a forged request without credentials is a 403 too.
    let reply = d
        .post("/api/1/capture/start")
        .header("Origin", "http://evil.example")
        .send()
        .await;
    assert_eq!(reply.code(), "request.cross_site", "{}", reply.text);

    // A cross-site multipart upload to restore never reaches the archive reader.
    let reply = d
        .post("/api/1/maintenance/restore")
        .admin()
        .header("Origin", "http://evil.example")
        .raw(
            "multipart/form-data; boundary=x",
            "--x\r\nContent-Disposition: form-data; name=\"archive\"; filename=\"a.tar\"\r\n\r\nnot a backup\r\n--x--\r\n",
        )
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert_eq!(reply.code(), "request.cross_site", "{}", reply.text);

    // The unit's own page (same origin) and clients that send neither header still work.
    let reply = d
        .post("/api/1/users")
        .admin()
        .header("Origin", &own_origin)
        .header("Sec-Fetch-Site", "same-origin")
        .raw(form, new_user("page"))
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let reply = d
        .post("/api/1/users")
        .admin()
        .header("Sec-Fetch-Site", "none")
        .raw(form, new_user("typed"))
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    // A form without a Content-Type at all (scripts that build requests by hand).
    let bare = reqwest::Client::new()
        .post(format!("{}/api/1/users", d.url))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .body(new_user("bare"))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), StatusCode::CREATED);
    assert!(user_exists(&d, "bare").await);
    // Reading is not refused (the browser keeps another site's page from seeing the answer).
    let reply = d
        .get("/api/1/status")
        .admin()
        .header("Origin", "http://evil.example")
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    // text/plain is what another site's page may send without asking: never a form.
    let reply = d
        .post("/api/1/users")
        .admin()
        .raw("text/plain", new_user("plain"))
        .send()
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{}",
        reply.text
    );
    assert_eq!(reply.code(), "request.unsupported_media_type");
    assert!(!user_exists(&d, "plain").await);
}

#[tokio::test]
async fn no_answer_may_be_shown_in_another_sites_frame() {
    let d = TestDaemon::start().await;
    for (what, reply) in [
        ("page", d.get("/").send().await),
        ("page file", d.get("/ui/app.js").send().await),
        ("health", d.get("/api/1/health").send().await),
        ("status", d.get("/api/1/status").admin().send().await),
        ("401", d.get("/api/1/status").send().await),
        ("404", d.get("/api/1/no-such-route").send().await),
        ("docs", d.get("/api/1/docs").send().await),
    ] {
        let header = |name: &str| {
            reply
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(header("x-frame-options"), "DENY", "{what}");
        assert!(
            header("content-security-policy").contains("frame-ancestors 'none'"),
            "{what}: {}",
            header("content-security-policy")
        );
    }
}
