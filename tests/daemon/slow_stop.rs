//! A stop whose end of stream is slow holds up no other session: while one recording is
//! still ending, another session's pause, resume and a new start are answered.
//!
//! The debug build holds a stop's end of stream back for `CASTD_TEST_EOS_DELAY_MS`, which
//! stands for a pipeline that takes long to drain. The assertions are about order, not
//! time: every other answer arrives while the first stop is still unanswered and its
//! package is still being recorded.

use std::cell::Cell;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::capture::{finished_package, small_template, start};
use crate::common::{Options, Reply, TestDaemon};
use crate::events::{EventStream, is_state};

/// Long enough that the other commands are done well before the first stop can end, and
/// short of the engine's own 15 s limit for a stop, so that stop still ends complete.
const EOS_HELD_MS: &str = "10000";

async fn post_for(d: &TestDaemon, action: &str, session: &str) -> Reply {
    d.post(&format!("/api/1/capture/{action}"))
        .admin()
        .form(&[("sessionID", session)])
        .send()
        .await
}

async fn package_state(d: &TestDaemon, id: &str) -> String {
    d.get(&format!("/api/1/capture/mediaPackages/{id}"))
        .admin()
        .send()
        .await
        .body["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_stop_does_not_hold_up_the_other_sessions() {
    let d = TestDaemon::start_with(Options {
        env: vec![("CASTD_TEST_EOS_DELAY_MS".into(), EOS_HELD_MS.into())],
        ..Options::default()
    })
    .await;
    small_template(&d).await;
    d.post("/api/1/settings/concurrentCaptures")
        .admin()
        .form(&[("value", "true")])
        .send()
        .await;
    let slow = start(&d, json!({"templateID": "small"})).await;
    assert_eq!(slow.status, StatusCode::CREATED, "{}", slow.text);
    let slow = slow.body["sessionID"].as_str().unwrap().to_string();
    let other = start(&d, json!({"templateID": "audio-only"})).await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.text);
    let other = other.body["sessionID"].as_str().unwrap().to_string();

    let mut events = EventStream::open(&d, None).await;
    let slow_stopped = Cell::new(false);
    let stopping = async {
        let reply = post_for(&d, "stop", &slow).await;
        slow_stopped.set(true);
        reply
    };
    let meanwhile = async {
        // The stop is under way once the slow session is announced `stopping`.
        events
            .next_where(Duration::from_secs(30), |f| is_state(f, &slow, "stopping"))
            .await;
        let paused = post_for(&d, "pause", &other).await;
        let paused_early = !slow_stopped.get();
        let resumed = post_for(&d, "resume", &other).await;
        let resumed_early = !slow_stopped.get();
        let third = start(&d, json!({"templateID": "audio-only"})).await;
        let started_early = !slow_stopped.get();
        let slow_package = package_state(&d, &slow).await;
        (
            (paused, paused_early),
            (resumed, resumed_early),
            (third, started_early),
            slow_package,
        )
    };
    let (stopped, (paused, resumed, third, slow_package)) = tokio::join!(stopping, meanwhile);

    assert_eq!(paused.0.status, StatusCode::OK, "{}", paused.0.text);
    assert_eq!(paused.0.body["state"], "paused");
    assert!(paused.1, "the pause waited for the other session's stop");
    assert_eq!(resumed.0.status, StatusCode::OK, "{}", resumed.0.text);
    assert_eq!(resumed.0.body["state"], "capturing");
    assert!(resumed.1, "the resume waited for the other session's stop");
    assert_eq!(third.0.status, StatusCode::CREATED, "{}", third.0.text);
    assert_eq!(third.0.body["state"], "capturing");
    assert!(third.1, "the start waited for the other session's stop");
    assert_eq!(
        slow_package, "capturing",
        "the slow session was still ending its recording"
    );

    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.text);
    let third = third.0.body["sessionID"].as_str().unwrap().to_string();
    for id in [&other, &third] {
        let reply = post_for(&d, "stop", id).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
    for id in [&slow, &other, &third] {
        assert_eq!(finished_package(&d, id).await["state"], "complete", "{id}");
    }
}
