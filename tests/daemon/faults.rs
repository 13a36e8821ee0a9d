//! Faults that are cheap enough for every run (the long ones are in tests/torture.rs, run by
//! scripts/torture): a device that vanishes during one recording is used again by the next;
//! a recording recovered after a kill is published by itself.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::capture::{action, finished_package, main_file, mean_luma, small_template, start};
use crate::common::{self, Options, TestDaemon};

async fn fault(d: &TestDaemon, service: &str, device: &str) {
    let args = json!({"device": device}).to_string();
    let reply = d
        .post(&format!("/api/1/plugins/test/services/{service}"))
        .admin()
        .form(&[("args", args.as_str())])
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{service}: {}", reply.text);
}

/// The camera node of the running session once it is in `state`.
async fn camera_in(d: &TestDaemon, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let nodes = d.get("/api/1/sessionStatus").admin().send().await.body;
        let camera = nodes
            .as_array()
            .and_then(|n| n.iter().find(|n| n["nodeID"] == "camera"))
            .cloned()
            .unwrap_or(Value::Null);
        if camera["state"] == state {
            return camera;
        }
        assert!(
            Instant::now() < deadline,
            "the camera never became {state}: {camera}\n{}",
            d.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The device is listed as present (a vanished one stays listed, `present: false`).
async fn present(d: &TestDaemon, device: &str) -> bool {
    let devices = d.get("/api/1/devices/video").admin().send().await.body;
    devices
        .as_array()
        .is_some_and(|l| l.iter().any(|v| v["id"] == device && v["present"] == true))
}

#[tokio::test]
async fn a_device_that_vanished_during_a_recording_is_used_again_when_it_returns() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let first = start(&d, json!({"templateID": "small"})).await.body["sessionID"]
        .as_str()
        .unwrap()
        .to_string();
    camera_in(&d, "running").await;
    fault(&d, "vanish", "test:camera").await;
    camera_in(&d, "no-signal").await;
    assert!(
        !present(&d, "test:camera").await,
        "a vanished device is absent"
    );
    // The recording ends while the camera is still gone: a whole file with the slate.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    action(&d, "stop").await;
    let package = finished_package(&d, &first).await;
    assert_eq!(package["state"], "complete", "{package}");
    crate::capture::ffprobe(&main_file(&package));

    fault(&d, "restore", "test:camera").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !present(&d, "test:camera").await {
        assert!(Instant::now() < deadline, "the camera never returned");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The next recording opens it again: colour bars, not the slate.
    let second = start(&d, json!({"templateID": "small"})).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.text);
    let camera = camera_in(&d, "running").await;
    assert_eq!(camera["deviceID"], "test:camera", "{camera}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let camera = camera_in(&d, "running").await;
    assert!(camera["fps"].as_f64().unwrap_or(0.0) > 0.0, "{camera}");
    let picture = mean_luma(
        &d.get("/api/1/liveStreamViewer/session")
            .admin()
            .send_bytes()
            .await,
    );
    assert!(picture > 60.0, "colour bars again (mean luma {picture})");
    action(&d, "stop").await;
    let id = second.body["sessionID"].as_str().unwrap();
    assert_eq!(finished_package(&d, id).await["state"], "complete");
}

#[tokio::test]
async fn a_recording_recovered_after_a_kill_is_published_without_waiting_for_another_capture() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let target = temp.path().join("published");
    std::fs::create_dir_all(&target).unwrap();
    let mut d = TestDaemon::start_in(&dir, &Options::default());
    small_template(&d).await;
    crate::publishing::configure(&d, "local", json!({"path": target})).await;
    let id = start(&d, json!({"templateID": "small"})).await.body["sessionID"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_secs(3)).await;
    common::signal(d.child(), Signal::SIGKILL);
    d.stop_within(Duration::from_secs(5));

    // Nothing is recorded after the restart: the recovery alone must queue the package.
    let d = TestDaemon::start_in(&dir, &Options::default());
    let package = finished_package(&d, &id).await;
    assert_eq!(package["state"], "partial", "{package}");
    crate::publishing::wait_done(&d, &id, "local", Duration::from_secs(30)).await;
    assert!(target.join(&id).join("manifest.json").exists());
}
