//! castd as an Opencast capture agent, end to end with the real daemon and the Opencast
//! protocol peer: registration and states, the calendar turned into scheduler events that
//! only Opencast may change, a real recording of an Opencast event with its recording
//! states in order, and a boot while Opencast is unreachable that still records from the
//! kept calendar.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::capture::{ffprobe, finished_package, main_file, seconds, small_template};
use crate::common::{Options, TestDaemon};
use crate::peers::opencast_agent::{
    AGENT_PASSWORD, AGENT_USER, DIGEST_PASSWORD, DIGEST_USER, Peer, Scheduled,
};

const AGENT: &str = "castd-room-101";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn enable(d: &TestDaemon, url: &str, extra: Value) {
    let mut config = json!({
        "enabled": true, "url": url, "auth": "basic", "username": AGENT_USER,
        "password": AGENT_PASSWORD, "agentName": AGENT, "pollSecs": 5, "stateSecs": 10,
        "templateID": "small",
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    let reply = d
        .post("/api/1/opencast/config")
        .admin()
        .form(&[("config", config.to_string().as_str())])
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

async fn status(d: &TestDaemon) -> Value {
    let reply = d.get("/api/1/opencast/status").admin().send().await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body
}

/// Polls `check` every 100 ms until it gives a value, or fails after `within`.
async fn eventually<T>(
    within: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn opencast_event(d: &TestDaemon, uid: &str) -> Option<Value> {
    let events = d.get("/api/1/scheduler/events").admin().send().await.body;
    events
        .as_array()
        .or_else(|| events["events"].as_array())?
        .iter()
        .find(|e| e["opencast"]["uid"] == uid)
        .cloned()
}

fn lecture(uid: &str, start_ms: i64, end_ms: i64) -> Scheduled {
    Scheduled {
        uid: uid.into(),
        start_ms,
        end_ms,
        title: format!("Lecture {uid}"),
        properties: "org.opencastproject.workflow.definition=fast\n\
                     org.opencastproject.workflow.config.straightToPublishing=true\n\
                     capture.device.names=recording\n"
            .into(),
    }
}

#[tokio::test]
async fn an_opencast_event_is_scheduled_recorded_and_reported_in_order() {
    let peer = Peer::start().await;
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let uid = "68b19d11-6aca-4c4e-9d6c-0e4d3f1b2a7c";
    let start = (now_ms() / 1000 + 6) * 1000;
    peer.schedule(lecture(uid, start, start + 12_000));
    enable(&d, &peer.url, json!({})).await;

    // Registered: idle, then the configuration with the template's recorder nodes and the
    // unit's time zone.
    eventually(Duration::from_secs(10), "the agent state", async || {
        peer.agent_states()
            .first()
            .filter(|(name, state, _)| name == AGENT && state == "idle")
            .map(drop)
    })
    .await;
    let (name, configuration) =
        eventually(Duration::from_secs(10), "the configuration", async || {
            peer.configurations().first().cloned()
        })
        .await;
    assert_eq!(name, AGENT);
    assert!(
        configuration.contains_key("capture.device.timezone"),
        "{configuration:?}"
    );
    assert_eq!(configuration["capture.device.names"], "recording");

    // The calendar's event is in the schedule, marked as Opencast's, and only Opencast may
    // change it.
    let event = eventually(Duration::from_secs(10), "the Opencast event", async || {
        opencast_event(&d, uid).await
    })
    .await;
    assert_eq!(event["startTime"], start, "{event}");
    assert_eq!(event["title"], format!("Lecture {uid}"));
    assert_eq!(event["opencast"]["workflow"], "fast");
    assert_eq!(
        event["opencast"]["workflowConfig"]["straightToPublishing"],
        "true"
    );
    let id = event["id"].as_str().unwrap().to_string();
    let edit = d
        .post(&format!("/api/1/scheduler/events/{id}"))
        .admin()
        .form(&[("event", json!({"title": "mine now"}).to_string().as_str())])
        .send()
        .await;
    assert_eq!(edit.status, StatusCode::CONFLICT, "{}", edit.text);
    assert_eq!(edit.code(), "schedule.owned_by_opencast");
    assert_eq!(edit.body["params"]["uid"], uid);
    let delete = d
        .delete(&format!("/api/1/scheduler/events/{id}"))
        .admin()
        .send()
        .await;
    assert_eq!(delete.status, StatusCode::CONFLICT, "{}", delete.text);
    assert_eq!(delete.code(), "schedule.owned_by_opencast");
    // A local event over the Opencast one is refused as any overlap is.
    let clash = d
        .post("/api/1/scheduler/events")
        .admin()
        .form(&[(
            "event",
            json!({"title": "local", "templateID": "small", "startTime": start + 1000,
                   "stopTime": start + 20_000})
            .to_string()
            .as_str(),
        )])
        .send()
        .await;
    assert_eq!(clash.status, StatusCode::CONFLICT, "{}", clash.text);

    // It records at its start, for its window, and Opencast hears capturing then
    // capture_finished, and the agent went capturing then back.
    let recorded = eventually(
        Duration::from_secs(40),
        "the recording to end",
        async || {
            let e = opencast_event(&d, uid).await?;
            e["completed"].as_bool().filter(|done| *done).map(|_| e)
        },
    )
    .await;
    assert_eq!(recorded["outcome"], "completed", "{recorded}");
    let package_id = recorded["mediaPackageID"].as_str().unwrap();
    let package = finished_package(&d, package_id).await;
    let probe = ffprobe(&main_file(&package));
    let duration = seconds(&probe["format"]["duration"]);
    assert!((10.5..13.5).contains(&duration), "{duration} s");
    let states = eventually(Duration::from_secs(15), "capture_finished", async || {
        let states = peer.recording_states();
        states
            .iter()
            .any(|(_, s)| s == "capture_finished")
            .then_some(states)
    })
    .await;
    let ours: Vec<&str> = states
        .iter()
        .filter(|(u, _)| u == uid)
        .map(|(_, s)| s.as_str())
        .collect();
    assert_eq!(ours.first(), Some(&"capturing"), "{ours:?}");
    let finished = ours.iter().position(|s| *s == "capture_finished").unwrap();
    assert!(
        ours[..finished].iter().all(|s| *s == "capturing"),
        "{ours:?}"
    );
    let agent_states: Vec<String> = peer.agent_states().into_iter().map(|(_, s, _)| s).collect();
    let capturing = agent_states.iter().position(|s| s == "capturing");
    assert!(capturing.is_some(), "{agent_states:?}");
    eventually(Duration::from_secs(15), "idle again", async || {
        let states: Vec<String> = peer.agent_states().into_iter().map(|(_, s, _)| s).collect();
        states[capturing.unwrap()..]
            .iter()
            .any(|s| s == "idle" || s == "uploading")
            .then_some(())
    })
    .await;

    let link = status(&d).await;
    assert_eq!(link["enabled"], true, "{link}");
    assert!(link["lastContact"].as_i64().is_some(), "{link}");
    assert!(link["lastCalendar"].as_i64().is_some(), "{link}");
    assert_eq!(link["lastError"], Value::Null, "{link}");
    assert_eq!(peer.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn opencast_moves_and_removes_events_and_a_calendar_without_changes_is_a_304() {
    let peer = Peer::start().await;
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let base = (now_ms() / 1000 + 3_600) * 1000;
    peer.schedule(lecture("moved", base, base + 600_000));
    peer.schedule(lecture("dropped", base + 700_000, base + 800_000));
    enable(&d, &peer.url, json!({})).await;
    eventually(Duration::from_secs(10), "both events", async || {
        (opencast_event(&d, "moved").await.is_some()
            && opencast_event(&d, "dropped").await.is_some())
        .then_some(())
    })
    .await;

    // Nothing changed: the ETag goes back exactly and Opencast answers 304.
    d.post("/api/1/opencast/sync").admin().send().await;
    let not_modified = eventually(Duration::from_secs(15), "a 304", async || {
        peer.calendar_requests()
            .into_iter()
            .find(|r| r.status == 304)
    })
    .await;
    assert!(not_modified.if_none_match.is_some());

    peer.schedule(lecture("moved", base + 60_000, base + 900_000));
    peer.unschedule("dropped");
    let moved = eventually(Duration::from_secs(15), "the move", async || {
        opencast_event(&d, "moved")
            .await
            .filter(|e| e["startTime"] == base + 60_000)
    })
    .await;
    assert_eq!(moved["stopTime"], base + 900_000);
    eventually(Duration::from_secs(15), "the removal", async || {
        opencast_event(&d, "dropped").await.is_none().then_some(())
    })
    .await;
    for request in peer.calendar_requests() {
        let ahead = request.cutoff_ms - now_ms();
        assert!(
            ahead > 13 * 86_400_000 && ahead <= 14 * 86_400_000,
            "the cutoff is absolute and two weeks ahead: {request:?}"
        );
    }
    assert_eq!(peer.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn a_box_booting_while_opencast_is_down_records_and_catches_up_in_order_later() {
    let peer = Peer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default();
    let uid = "offline-boot";
    let start;
    {
        let d = TestDaemon::start_in(dir.path(), &options);
        small_template(&d).await;
        start = (now_ms() / 1000 + 25) * 1000;
        peer.schedule(lecture(uid, start, start + 10_000));
        enable(&d, &peer.url, json!({})).await;
        eventually(Duration::from_secs(10), "the Opencast event", async || {
            opencast_event(&d, uid).await
        })
        .await;
    }
    // Opencast goes away, and castd restarts while it is away.
    drop(peer);
    let d = TestDaemon::start_in(dir.path(), &options);
    let recorded = eventually(Duration::from_secs(60), "the recording", async || {
        let e = opencast_event(&d, uid).await?;
        e["completed"].as_bool().filter(|done| *done).map(|_| e)
    })
    .await;
    assert_eq!(recorded["outcome"], "completed", "{recorded}");
    assert!(
        (recorded["outcomeReason"].is_null()),
        "started on time without Opencast: {recorded}"
    );
    let link = eventually(Duration::from_secs(15), "both states queued", async || {
        let link = status(&d).await;
        (link["outbox"] == 2).then_some(link)
    })
    .await;
    assert_eq!(link["lastError"]["code"], "opencast.unreachable", "{link}");

    // Opencast is back (at a new address): the states go out in order, once.
    let back = Peer::start().await;
    back.schedule(lecture(uid, start, start + 10_000));
    enable(&d, &back.url, json!({})).await;
    let states = eventually(Duration::from_secs(15), "the replay", async || {
        let states = back.recording_states();
        (states.len() >= 2).then_some(states)
    })
    .await;
    assert_eq!(
        states,
        vec![
            (uid.to_string(), "capturing".to_string()),
            (uid.to_string(), "capture_finished".to_string())
        ]
    );
    eventually(Duration::from_secs(10), "an empty outbox", async || {
        (status(&d).await["outbox"] == 0).then_some(())
    })
    .await;
    assert_eq!(back.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn a_later_end_from_opencast_applies_to_the_running_recording() {
    let peer = Peer::start().await;
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let uid = "moved-end";
    let start = (now_ms() / 1000 + 5) * 1000;
    peer.schedule(lecture(uid, start, start + 40_000));
    enable(&d, &peer.url, json!({})).await;
    eventually(Duration::from_secs(20), "the recording", async || {
        opencast_event(&d, uid)
            .await
            .filter(|e| e["outcome"] == "recording")
    })
    .await;
    peer.schedule(lecture(uid, start, start + 14_000));
    let recorded = eventually(Duration::from_secs(40), "the early end", async || {
        let e = opencast_event(&d, uid).await?;
        e["completed"].as_bool().filter(|done| *done).map(|_| e)
    })
    .await;
    assert_eq!(recorded["stopTime"], start + 14_000, "{recorded}");
    let package = finished_package(&d, recorded["mediaPackageID"].as_str().unwrap()).await;
    let duration = seconds(&ffprobe(&main_file(&package))["format"]["duration"]);
    assert!((12.5..15.5).contains(&duration), "{duration} s");
    assert_eq!(peer.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn a_digest_agent_registers_and_a_missing_template_is_reported_as_error() {
    let peer = Peer::start().await;
    let d = TestDaemon::start().await;
    enable(
        &d,
        &peer.url,
        json!({"auth": "digest", "username": DIGEST_USER, "password": DIGEST_PASSWORD,
               "templateID": "no-such-template"}),
    )
    .await;
    // castd cannot record Opencast's events without its template: it says so, never idle.
    eventually(Duration::from_secs(10), "the error state", async || {
        peer.agent_states()
            .iter()
            .any(|(name, state, _)| name == AGENT && state == "error")
            .then_some(())
    })
    .await;
    assert!(
        !peer.agent_states().iter().any(|(_, s, _)| s == "idle"),
        "{:?}",
        peer.agent_states()
    );
    eventually(Duration::from_secs(10), "a calendar request", async || {
        (!peer.calendar_requests().is_empty()).then_some(())
    })
    .await;
    // The template appears: the agent is idle at its next look (a status change wakes it
    // at once; the state is also sent every stateSecs).
    small_template(&d).await;
    let reply = d
        .post("/api/1/opencast/config")
        .admin()
        .form(&[(
            "config",
            json!({"templateID": "small"}).to_string().as_str(),
        )])
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    eventually(Duration::from_secs(15), "idle", async || {
        peer.agent_states()
            .iter()
            .any(|(_, state, _)| state == "idle")
            .then_some(())
    })
    .await;
    assert!(
        peer.nonce_counts().iter().any(|n| *n > 1),
        "a nonce is used for more than one request: {:?}",
        peer.nonce_counts()
    );
    assert_eq!(peer.violations(), Vec::<String>::new());
}
