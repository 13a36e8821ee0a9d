//! Reboot, restart and restartMedia. The configured commands only write their time into the
//! data directory (see `RELAXED_AUTH`), so the tests can tell when they ran.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use serde_json::json;

use crate::capture::{action, finished_package, small_template, start};
use crate::common::{self, ADMIN_PASSWORD, Options, TestDaemon};
use crate::events::{EventStream, is_state};

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128
}

/// The times (ns since the epoch) at which a command wrote into `file`, waiting for one.
async fn command_runs(file: &Path, wait: Duration) -> Vec<i128> {
    let deadline = Instant::now() + wait;
    loop {
        if let Ok(text) = std::fs::read_to_string(file)
            && text.ends_with('\n')
        {
            return text.lines().map(|l| l.trim().parse().unwrap()).collect();
        }
        assert!(
            Instant::now() < deadline,
            "{} was not written within {wait:?}",
            file.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn post(d: &TestDaemon, path: &str, force: bool) -> crate::common::Reply {
    let force = force.to_string();
    d.post(path)
        .admin()
        .form(&[("force", force.as_str())])
        .send()
        .await
}

#[tokio::test]
async fn reboot_refuses_a_running_capture_and_with_force_finalises_it_before_the_command() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let ran = d.data_dir.join("reboot-command-ran");
    let mut events = EventStream::open(&d, None).await;
    let reply = start(&d, json!({"templateID": "small"})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let session = reply.body["sessionID"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let refused = post(&d, "/api/1/maintenance/reboot", false).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::CONFLICT, "maintenance.capturing"),
        "{}",
        refused.text
    );
    assert_eq!(refused.body["params"]["sessions"], json!([session]));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!ran.exists(), "the refused reboot ran its command");
    assert_eq!(
        d.get("/api/1/status/capture").admin().send().await.body["state"],
        "capturing"
    );

    let accepted = post(&d, "/api/1/maintenance/reboot", true).await;
    let answered_ns = now_ns();
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.text);
    assert_eq!(accepted.body["action"], "reboot");
    assert_eq!(accepted.body["stoppedSessions"], json!([session]));

    let runs = command_runs(&ran, Duration::from_secs(60)).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    let ran_ns = runs[0];
    println!(
        "reboot command ran {:.1} ms after the 202 reached the client",
        (ran_ns - answered_ns) as f64 / 1e6
    );
    assert!(ran_ns > answered_ns, "the command ran before the answer");

    // The package was finished (and the session announced idle) before the command.
    let idle = events
        .next_where(Duration::from_secs(5), |f| is_state(f, &session, "idle"))
        .await;
    let idle_ms = i128::from(idle.data["time"].as_i64().unwrap());
    assert!(
        idle_ms * 1_000_000 <= ran_ns,
        "the recording was finalised {} ms after the command ran",
        (idle_ms * 1_000_000 - ran_ns) as f64 / 1e6
    );
    let package = finished_package(&d, &session).await;
    assert!(
        matches!(package["state"].as_str(), Some("complete" | "partial")),
        "{package}"
    );
    assert!(package["outputs"]["recording"]["size"].as_u64().unwrap() > 0);
    // The daemon itself goes on until the system stops it.
    assert_eq!(
        d.get("/api/1/status").admin().send().await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn restart_answers_first_then_runs_the_restart_command() {
    let d = TestDaemon::start().await;
    let ran = d.data_dir.join("restart-command-ran");
    let accepted = d
        .post("/api/1/maintenance/restart")
        .admin()
        .form(&[])
        .send()
        .await;
    let answered_ns = now_ns();
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.text);
    assert_eq!(accepted.body["action"], "restart");
    assert_eq!(accepted.body["stoppedSessions"], json!([]));
    let runs = command_runs(&ran, Duration::from_secs(30)).await;
    assert_eq!(runs.len(), 1);
    assert!(runs[0] > answered_ns, "the command ran before the answer");
    assert!(!d.data_dir.join("reboot-command-ran").exists());
}

#[tokio::test]
async fn restart_without_a_command_finalises_the_recording_and_exits_cleanly() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let options = Options {
        config_toml: "[auth]\nmax_failures_per_address = 1000000\n\
            [capture]\nkeep_inputs_hot = false\n\
            [maintenance]\nrestart_command = []\nreboot_command = ['/bin/false']\n"
            .into(),
        ..Options::default()
    };
    let (mut child, url) = common::spawn(&data_dir, &options).unwrap();
    // Spawned directly: this test waits for the process to exit by itself.
    let client = castd::http_client::builder().build().unwrap();
    let template = json!({
        "id": "small", "name": "Small",
        "graph": {"root": "recording", "nodes": [
            {"id": "camera", "type": "videoDevice", "options": {"width": 320, "height": 180, "framerate": 30}, "children": ["video"]},
            {"id": "video", "type": "h264Encoder", "options": {"bitrate": 400, "preset": "ultrafast", "keyframeInterval": 2}, "children": ["recording"]},
            {"id": "recording", "type": "fileRecorder"}
        ]}
    })
    .to_string();
    let saved = client
        .post(format!("{url}/api/1/capture/templates"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .form(&[("template", template.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), StatusCode::OK);
    let request = json!({"templateID": "small"}).to_string();
    let started = client
        .post(format!("{url}/api/1/capture/start"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .form(&[("captureRequest", request.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::CREATED);
    let session = started.json::<serde_json::Value>().await.unwrap()["sessionID"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let accepted = client
        .post(format!("{url}/api/1/maintenance/restart"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .form(&[("force", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let status = tokio::task::spawn_blocking(move || {
        let status = common::wait_with_timeout(&mut child, Duration::from_secs(30));
        if status.is_none() {
            let _ = child.kill();
        }
        status
    })
    .await
    .unwrap()
    .expect("castd did not exit after the restart was accepted");
    assert!(status.success(), "{status}");

    // What the service manager would start again: the recording is complete, not recovered.
    let again = TestDaemon::start_in(&data_dir, &options);
    let package = finished_package(&again, &session).await;
    assert_eq!(package["state"], "complete", "{package}");
}

#[tokio::test]
async fn restart_media_rebuilds_the_media_side_and_capturing_works_afterwards() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let reply = start(&d, json!({"templateID": "small"})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let first = reply.body["sessionID"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(1000)).await;

    let refused = post(&d, "/api/1/maintenance/restartMedia", false).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::CONFLICT, "maintenance.capturing")
    );

    let done = post(&d, "/api/1/maintenance/restartMedia", true).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.body["stoppedSessions"], json!([first]));
    let devices = done.body["devices"].as_array().unwrap();
    assert!(
        devices.iter().any(|d| d["type"] == "video"),
        "{}",
        done.text
    );
    let package = finished_package(&d, &first).await;
    assert_eq!(package["state"], "complete", "{package}");

    // Nothing runs now: a second rebuild needs no force.
    let again = post(&d, "/api/1/maintenance/restartMedia", false).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);

    let reply = start(&d, json!({"templateID": "small"})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let second = reply.body["sessionID"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(action(&d, "stop").await.status, StatusCode::OK);
    let package = finished_package(&d, &second).await;
    assert_eq!(package["state"], "complete", "{package}");
    assert!(package["outputs"]["recording"]["size"].as_u64().unwrap() > 0);
    // Neither rebuild rebooted or restarted anything.
    assert!(!d.data_dir.join("reboot-command-ran").exists());
    assert!(!d.data_dir.join("restart-command-ran").exists());
}
