//! Defects found by trying castd the way a room panel and a newcomer would: a device
//! preview right after a capture, GStreamer warnings at stop, and `scripts/run`'s flags.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::capture::{action, finished_package, start};
use crate::common::{ADMIN_PASSWORD, Options, TestDaemon, signal, wait_with_timeout};

const HOT_INPUTS: &str =
    "[auth]\nmax_failures_per_address = 100000\n[capture]\nkeep_inputs_hot = true\n";

async fn capture_state(d: &TestDaemon) -> String {
    d.get("/api/1/status/capture").admin().send().await.body["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A panel opens the camera's preview right after Stop, while the recording is finalised
/// and the hot pipeline is built again: whichever pipeline holds the camera at that moment,
/// the request gets its picture, never a 404 after waiting out a pipeline that was shut
/// down under it.
#[tokio::test]
async fn a_device_preview_right_after_a_capture_gets_the_picture() {
    let d = TestDaemon::start_with(Options {
        config_toml: HOT_INPUTS.into(),
        ..Options::default()
    })
    .await;
    // Offsets from the answer to Stop: the first ones fall while the recording is being
    // finalised, the later ones after the capture went idle, around the hot pipeline's
    // rebuild (the engine rechecks what to keep ready every two seconds).
    for delay_ms in [0u64, 600, 1200, 1800] {
        let started = start(
            &d,
            json!({"title": "preview after stop", "templateID": "lecture"}),
        )
        .await;
        assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let stopped = action(&d, "stop").await;
        assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.text);
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let state = capture_state(&d).await;
        let preview = d
            .post("/api/1/liveStreamViewer/video/test:camera")
            .admin()
            .send()
            .await;
        assert_eq!(
            preview.status,
            StatusCode::OK,
            "{delay_ms} ms after Stop (capture {state}): {}",
            preview.text
        );
        assert_eq!(preview.headers["content-type"], "image/jpeg");
        // The next start must not find the last recording still being finalised.
        let deadline = Instant::now() + Duration::from_secs(60);
        while capture_state(&d).await != "idle" {
            assert!(Instant::now() < deadline, "the capture never went idle");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The same moment made exact: the hot pipeline is dropped (`restartMedia`) and the engine
/// builds it again at its next check, two seconds later. A preview asked for just after
/// that check is due is started on its own pipeline, which the rebuild then shuts down
/// before its first picture; the request must follow the camera to the rebuilt pipeline.
#[tokio::test]
async fn a_device_preview_asked_for_as_the_hot_pipeline_is_rebuilt_gets_the_picture() {
    let d = TestDaemon::start_with(Options {
        config_toml: HOT_INPUTS.into(),
        ..Options::default()
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !d.stderr().contains("inputs of template lecture are hot") {
        assert!(
            Instant::now() < deadline,
            "the lecture template never got hot"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for attempt in 0..3 {
        let restarted = d
            .post("/api/1/maintenance/restartMedia")
            .admin()
            .form(&[])
            .send()
            .await;
        assert_eq!(restarted.status, StatusCode::OK, "{}", restarted.text);
        let dropped = Instant::now();
        // Any call the engine answers makes it look at its timers; the last one before the
        // rebuild is due moves its next own look a second later, so the preview below is
        // the first call after the rebuild became due.
        for at in [500u64, 1000, 1700] {
            tokio::time::sleep_until((dropped + Duration::from_millis(at)).into()).await;
            let idle = action(&d, "stop").await;
            assert_eq!(idle.code(), "capture.idle", "{}", idle.text);
        }
        tokio::time::sleep_until((dropped + Duration::from_millis(2100)).into()).await;
        let preview = d
            .post("/api/1/liveStreamViewer/video/test:camera")
            .admin()
            .send()
            .await;
        assert_eq!(
            preview.status,
            StatusCode::OK,
            "attempt {attempt}: {}",
            preview.text
        );
        assert_eq!(preview.headers["content-type"], "image/jpeg");
    }
}

/// GLib's own log lines (`(castd:PID): GStreamer-CRITICAL **: …`, `GLib-GObject-WARNING **`):
/// a failed precondition or misuse of an API in castd's process. GStreamer's debug log is
/// separate and silent unless GST_DEBUG asks for it.
fn glib_criticals_and_warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("-CRITICAL **") || l.contains("-WARNING **"))
        .collect()
}

/// A whole recording — start, pause, resume, stop, and the finalising of its file —
/// must not make GLib or GStreamer complain about how castd drives them. The stock lecture
/// template: the fast-start rewrite of its file is where the complaints came from (its
/// demuxer announces the video's caps again for most fragments).
#[tokio::test]
async fn a_start_pause_resume_stop_cycle_logs_no_glib_criticals_or_warnings() {
    let d = TestDaemon::start().await;
    let started = start(&d, json!({"templateID": "lecture"})).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let id = started.body["sessionID"].as_str().unwrap().to_string();
    for (step, after_ms) in [("pause", 2500u64), ("resume", 700), ("stop", 2500)] {
        tokio::time::sleep(Duration::from_millis(after_ms)).await;
        let reply = action(&d, step).await;
        assert_eq!(reply.status, StatusCode::OK, "{step}: {}", reply.text);
    }
    let package = finished_package(&d, &id).await;
    assert_eq!(package["state"], "complete", "{package}");
    let stderr = d.stderr();
    let complaints = glib_criticals_and_warnings(&stderr);
    assert!(
        complaints.is_empty(),
        "{} GLib/GStreamer complaints, the first: {:?}",
        complaints.len(),
        complaints.first()
    );
}

/// `scripts/run --listen 0.0.0.0:8080`, the example in the script's own header, must start
/// castd where asked: flags given to the script replace its defaults instead of being
/// passed twice. `CASTD_BIN` skips installing packages and building.
#[tokio::test]
async fn scripts_run_passes_its_flags_instead_of_its_defaults() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let stderr = std::fs::File::create(temp.path().join("run.stderr")).unwrap();
    let mut child = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/run"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(&data_dir)
        .args(["--devices", "test"])
        .env("CASTD_BIN", env!("CARGO_BIN_EXE_castd"))
        .env("CASTD_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("CASTD_LOG", "info")
        .env_remove("CASTD_LISTEN")
        .env_remove("CASTD_DATA_DIR")
        .env_remove("CASTD_DEVICES")
        .env_remove("CASTD_CONFIG")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("scripts/run starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let first = BufReader::new(stdout).lines().next().and_then(Result::ok);
        let _ = tx.send(first);
    });
    let first = rx.recv_timeout(Duration::from_secs(60)).ok().flatten();
    let log = || std::fs::read_to_string(temp.path().join("run.stderr")).unwrap_or_default();
    let Some(first) = first else {
        let _ = child.kill();
        let status = child.wait().unwrap();
        panic!("scripts/run did not start castd ({status}):\n{}", log());
    };
    assert_eq!(first, format!("castd listening on http://127.0.0.1:{port}"));
    let health = castd::http_client::builder()
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{port}/api/1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(
        data_dir.join("castd.db").exists(),
        "the database is in the --data-dir given"
    );
    // The script hands over to castd (exec), so the signal reaches castd itself.
    signal(&child, nix::sys::signal::Signal::SIGTERM);
    let status = wait_with_timeout(&mut child, Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "castd stops cleanly: {status:?}\n{}",
        log()
    );
}
