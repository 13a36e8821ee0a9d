//! A network camera: a real RTSP server (gst-rtsp-server) on loopback feeds a
//! `networkSource` node; the camera goes away mid-recording and comes back.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::capture::{assert_continuous, finished_package, main_file, start, stream};
use crate::common::TestDaemon;
use crate::publishing::free_port;

/// tests/servers/rtsp_camera.py, run by Debian's Python (which has the GI bindings).
struct RtspCamera {
    child: Child,
}

impl RtspCamera {
    fn start(port: u16) -> RtspCamera {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers/rtsp_camera.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("Debian's python3 is installed (scripts/install-test-servers)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the RTSP camera did not start");
        RtspCamera { child }
    }
}

impl Drop for RtspCamera {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn camera_node(d: &TestDaemon) -> Value {
    let nodes = d.get("/api/1/sessionStatus").admin().send().await.body;
    nodes
        .as_array()
        .unwrap_or_else(|| panic!("{nodes}"))
        .iter()
        .find(|n| n["nodeID"] == "ipcam")
        .unwrap_or_else(|| panic!("{nodes}"))
        .clone()
}

async fn wait_camera(d: &TestDaemon, states: &[&str]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let node = camera_node(d).await;
        if states.iter().any(|s| node["state"] == *s) {
            return node;
        }
        assert!(
            Instant::now() < deadline,
            "camera never {states:?}: {node}\n{}",
            d.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_network_camera_that_drops_out_is_bridged_by_its_slate_and_reconnected() {
    let d = TestDaemon::start().await;
    let port = free_port();
    let camera = RtspCamera::start(port);
    let template = json!({
        "id": "ipcam", "name": "IP camera",
        "graph": {"root": "recording", "nodes": [
            {"id": "ipcam", "type": "networkSource",
             "options": {"url": format!("rtsp://127.0.0.1:{port}/camera"), "width": 320, "height": 180, "framerate": 25},
             "children": ["video"]},
            {"id": "video", "type": "h264Encoder", "options": {"bitrate": 400, "preset": "ultrafast", "keyframeInterval": 1}, "children": ["recording"]},
            {"id": "recording", "type": "fileRecorder"}
        ]}
    })
    .to_string();
    let saved = d
        .post("/api/1/capture/templates")
        .admin()
        .form(&[("template", template.as_str())])
        .send()
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);

    let started = start(&d, json!({"templateID": "ipcam"})).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let package_id = started.body["mediaPackageID"].as_str().unwrap().to_string();
    let began = Instant::now();
    wait_camera(&d, &["running"]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    drop(camera);
    // Lost: `error` while the stream answers with an error, `no-signal` while it is silent.
    let lost = wait_camera(&d, &["no-signal", "error"]).await;
    assert!(lost["signalLostSince"].as_i64().is_some(), "{lost}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = d.get("/api/1/status/capture").admin().send().await.body;
    assert_eq!(
        status["state"], "capturing",
        "the recording goes on: {status}"
    );

    let _camera = RtspCamera::start(port);
    let back = wait_camera(&d, &["running"]).await;
    assert_eq!(back["signal"], "ok", "{back}");
    tokio::time::sleep(Duration::from_secs(2)).await;

    let stopped = crate::capture::action(&d, "stop").await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.text);
    let wall = began.elapsed().as_secs_f64();
    let package = finished_package(&d, &package_id).await;
    assert_eq!(package["state"], "complete", "{package}");
    let file = main_file(&package);
    // The slate filled the outage: frames all the way through.
    let probe = assert_continuous(&file, wall, 2.0, 0.5);
    let video = stream(&probe, "video");
    assert_eq!(
        (video["width"].as_i64(), video["height"].as_i64()),
        (Some(320), Some(180))
    );
}
