//! `GET /events`: the event stream as a panel's browser reads it.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::capture::{action, finished_package, small_template, start};
use crate::common::TestDaemon;

/// One event (or comment) of a stream, with the instant it arrived.
#[derive(Debug, Clone)]
pub struct Frame {
    pub at: Instant,
    pub event: Option<String>,
    pub id: Option<u64>,
    pub data: Value,
    pub comment: Option<String>,
}

/// A stream being read in the background.
pub struct EventStream {
    frames: mpsc::UnboundedReceiver<Frame>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl EventStream {
    /// Opens `/api/1/events` as admin, with `Last-Event-ID` when given.
    pub async fn open(d: &TestDaemon, last_event_id: Option<u64>) -> EventStream {
        let mut request = d.get("/api/1/events").admin();
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", &id.to_string());
        }
        EventStream::read(request.send_streaming().await)
    }

    pub fn read(response: reqwest::Response) -> EventStream {
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        let (tx, frames) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            let mut response = response;
            let mut buffer = String::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                let at = Instant::now();
                buffer.push_str(std::str::from_utf8(&chunk).unwrap());
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    if tx.send(parse(&block, at)).is_err() {
                        return;
                    }
                }
            }
        });
        EventStream { frames, reader }
    }

    /// The next frame that `wanted` accepts, within `timeout`.
    pub async fn next_where(
        &mut self,
        timeout: Duration,
        mut wanted: impl FnMut(&Frame) -> bool,
    ) -> Frame {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.frames.recv())
                .await
                .unwrap_or_else(|_| panic!("no such event within {timeout:?}"))
                .expect("the stream ended");
            if wanted(&frame) {
                return frame;
            }
        }
    }

    /// Whether the stream ends (after any frames still underway) within `timeout`.
    pub async fn ends_within(&mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.frames.recv()).await {
                Ok(None) => return true,
                Ok(Some(_)) => {}
                Err(_) => return false,
            }
        }
    }

    /// The next frame within `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Frame {
        self.next_where(timeout, |_| true).await
    }
}

fn parse(block: &str, at: Instant) -> Frame {
    let mut frame = Frame {
        at,
        event: None,
        id: None,
        data: Value::Null,
        comment: None,
    };
    let mut data = String::new();
    for line in block.lines() {
        if let Some(comment) = line.strip_prefix(':') {
            frame.comment = Some(comment.trim().to_string());
        } else if let Some((field, value)) = line.split_once(':') {
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => frame.event = Some(value.to_string()),
                "id" => frame.id = value.parse().ok(),
                "data" => data.push_str(value),
                _ => {}
            }
        }
    }
    frame.data = serde_json::from_str(&data).unwrap_or(Value::Null);
    frame
}

/// Whether `frame` is the session's `captureState` event with `state`.
pub fn is_state(frame: &Frame, session: &str, state: &str) -> bool {
    frame.event.as_deref() == Some("captureState")
        && frame.data["sessionID"] == session
        && frame.data["state"] == state
}

#[tokio::test]
async fn a_capture_start_reaches_subscribers_at_once_with_per_second_figures_after() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let mut events = EventStream::open(&d, None).await;

    let asked = Instant::now();
    let reply = start(&d, json!({"templateID": "small", "title": "Streamed"})).await;
    let answered = Instant::now();
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let session = reply.body["sessionID"].as_str().unwrap().to_string();

    let capturing = events
        .next_where(Duration::from_secs(5), |f| {
            is_state(f, &session, "capturing")
        })
        .await;
    let after_answer_ms = if capturing.at >= answered {
        capturing.at.duration_since(answered).as_secs_f64() * 1000.0
    } else {
        -(answered.duration_since(capturing.at).as_secs_f64() * 1000.0)
    };
    println!(
        "captureState(capturing) arrived {after_answer_ms:.1} ms after the start answer \
         (the start took {:.1} ms)",
        answered.duration_since(asked).as_secs_f64() * 1000.0
    );
    assert!(
        after_answer_ms <= 100.0,
        "the event came {after_answer_ms:.1} ms after the answer"
    );
    assert_eq!(capturing.data["type"], "captureState");
    assert_eq!(capturing.data["id"].as_u64(), capturing.id);
    assert!(capturing.data["time"].as_i64().unwrap() > 0);

    // Figures are counted once a second: the first event may come before the first count.
    let camera_buffers = |f: &Frame| {
        f.data["nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|n| n["nodeID"] == "camera"))
            .and_then(|camera| camera["buffers"].as_u64())
    };
    let stats = events
        .next_where(Duration::from_secs(4), |f| {
            f.event.as_deref() == Some("nodeStats")
                && f.data["sessionID"] == session.as_str()
                && camera_buffers(f).is_some_and(|b| b > 0)
        })
        .await;
    let nodes = stats.data["nodes"].as_array().unwrap();
    assert!(
        nodes.iter().any(|n| n["nodeID"] == "recording"),
        "{nodes:?}"
    );
    let levels = events
        .next_where(Duration::from_secs(3), |f| {
            f.event.as_deref() == Some("levels") && f.data["sessionID"] == session.as_str()
        })
        .await;
    let microphone = &levels.data["levels"]["microphone"];
    assert!(
        microphone["peak"].as_array().is_some_and(|p| !p.is_empty()),
        "{levels:?}"
    );

    assert_eq!(action(&d, "stop").await.status, StatusCode::OK);
    events
        .next_where(Duration::from_secs(30), |f| is_state(f, &session, "idle"))
        .await;
    finished_package(&d, &session).await;
}

#[tokio::test]
async fn a_reconnecting_client_gets_what_it_missed_and_heartbeats_keep_streams_alive() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    // Reads everything, uninterrupted: the reference.
    let mut whole = EventStream::open(&d, None).await;
    let mut dropped = EventStream::open(&d, None).await;

    let reply = start(&d, json!({"templateID": "small"})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let session = reply.body["sessionID"].as_str().unwrap().to_string();
    let seen = dropped
        .next_where(Duration::from_secs(5), |f| {
            is_state(f, &session, "capturing")
        })
        .await;
    let last_seen = seen.id.unwrap();
    drop(dropped);

    // Missed while disconnected: the stop and everything up to idle.
    assert_eq!(action(&d, "stop").await.status, StatusCode::OK);
    let mut expected = Vec::new();
    loop {
        let f = whole.next(Duration::from_secs(30)).await;
        let lasting = !matches!(f.event.as_deref(), Some("nodeStats" | "levels"));
        if f.id.unwrap() > last_seen && lasting {
            expected.push(f.id.unwrap());
        }
        if is_state(&f, &session, "idle") {
            break;
        }
    }
    assert!(expected.len() >= 2, "{expected:?}");

    let mut resumed = EventStream::open(&d, Some(last_seen)).await;
    let mut replayed = Vec::new();
    while replayed.len() < expected.len() {
        let f = resumed.next(Duration::from_secs(2)).await;
        assert!(f.comment.is_none(), "{f:?}");
        replayed.push(f.id.unwrap());
    }
    assert_eq!(replayed, expected);

    // The same through the query string, for clients that cannot set headers.
    let query = d
        .get(&format!("/api/1/events?lastEventId={last_seen}"))
        .admin()
        .send_streaming()
        .await;
    let first = EventStream::read(query).next(Duration::from_secs(2)).await;
    assert_eq!(first.id, Some(expected[0]));

    // An id from before a restart (or long gone): the client must read the state afresh.
    let mut stale = EventStream::open(&d, Some(1_000_000_000)).await;
    let first = stale.next(Duration::from_secs(2)).await;
    assert_eq!(first.event.as_deref(), Some("resync"), "{first:?}");

    let bad = d
        .get("/api/1/events")
        .admin()
        .header("Last-Event-ID", "yesterday")
        .send()
        .await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::BAD_REQUEST, "request.bad_param")
    );

    // Nothing happens now: a heartbeat comes within 15 s of the last event.
    let heartbeat = resumed
        .next_where(Duration::from_secs(17), |f| f.comment.is_some())
        .await;
    assert_eq!(heartbeat.comment.as_deref(), Some("heartbeat"));
}

#[tokio::test]
async fn the_stream_needs_credentials() {
    let d = TestDaemon::start().await;
    let anonymous = d.get("/api/1/events").send().await;
    assert_eq!(
        (anonymous.status, anonymous.code()),
        (StatusCode::UNAUTHORIZED, "auth.required")
    );
    let wrong = d
        .get("/api/1/events")
        .auth("admin", "wrong-password")
        .send()
        .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::UNAUTHORIZED, "auth.invalid_credentials")
    );
    let viewer = d
        .create_user("hall-display", "Status viewer", "display-secret")
        .await;
    assert!(viewer > 0);
    let response = d
        .get("/api/1/events")
        .auth("hall-display", "display-secret")
        .send_streaming()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-cache");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_end_when_castd_stops_so_they_never_delay_the_exit() {
    let mut d = TestDaemon::start().await;
    let mut events = EventStream::open(&d, None).await;
    let asked = Instant::now();
    let status =
        tokio::task::block_in_place(|| d.stop_within(Duration::from_secs(5))).expect("castd exits");
    let took = asked.elapsed();
    assert!(status.success(), "{status}");
    assert!(events.ends_within(Duration::from_secs(1)).await);
    // Well inside the grace castd gives connections that stay open.
    assert!(took < Duration::from_millis(2500), "exit took {took:?}");
}
