//! Devices and device plugins without hardware: the `test` plugin (with fault injection),
//! the `network` plugin (against a real TCP listener), settings with masked secrets.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Options, TestDaemon};

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

fn device<'a>(list: &'a Value, id: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {list}"))
}

#[tokio::test]
async fn test_devices_are_listed_by_type_and_in_the_status() {
    let d = TestDaemon::start().await;
    let video = d.get("/api/1/devices/video").admin().send().await.body;
    assert_eq!(ids(&video), ["test:camera", "test:slides"]);
    let cam = device(&video, "test:camera");
    assert_eq!(cam["stableID"], "test:camera");
    assert_eq!(
        (
            cam["type"].as_str(),
            cam["plugin"].as_str(),
            cam["role"].as_str()
        ),
        (Some("video"), Some("test"), Some("camera"))
    );
    assert_eq!(
        cam["formats"][0],
        json!({"format": "I420", "width": 1280, "height": 720, "framerates": [30.0]})
    );
    assert_eq!(
        (
            cam["present"].as_bool(),
            cam["signal"].as_str(),
            cam["inUse"].as_bool()
        ),
        (Some(true), Some("ok"), Some(false))
    );
    let audio = d
        .get("/api/1/devices/audio")
        .auth("role-viewer", "x")
        .send()
        .await;
    assert_eq!(audio.status, StatusCode::UNAUTHORIZED);
    let audio = d.get("/api/1/devices/audio").admin().send().await.body;
    assert_eq!(
        device(&audio, "test:microphone")["audio"],
        json!({"channels": [2], "rates": [48000], "formats": ["S16LE", "F32LE"]})
    );

    let status = d.get("/api/1/status").admin().send().await.body;
    assert_eq!(ids(&status["devices"]).len(), 3);
    assert_eq!(
        ids(&d.get("/api/1/status/devices").admin().send().await.body).len(),
        3
    );
    assert_eq!(
        d.get("/api/1/capture/deviceCaptureAvailable")
            .admin()
            .send()
            .await
            .body,
        json!({"available": true})
    );

    let redetected = d.post("/api/1/devices/redetect").admin().send().await;
    assert_eq!(redetected.status, StatusCode::OK);
    assert_eq!(ids(&redetected.body).len(), 3);
    assert_eq!(
        d.get("/api/1/devices/redetect").admin().send().await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn injected_faults_make_test_devices_vanish_lose_signal_and_return() {
    let d = TestDaemon::start().await;
    let invoke = |service: &'static str, device: &'static str| {
        let args = json!({"device": device}).to_string();
        let d = &d;
        async move {
            d.post(&format!("/api/1/plugins/test/services/{service}"))
                .admin()
                .form(&[("args", args.as_str())])
                .send()
                .await
        }
    };
    let reply = invoke("vanish", "test:camera").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let cam = device(
        &d.get("/api/1/devices/video").admin().send().await.body,
        "test:camera",
    )
    .clone();
    assert_eq!(
        (cam["present"].as_bool(), cam["signal"].as_str()),
        (Some(false), Some("none"))
    );

    invoke("loseSignal", "test:slides").await;
    let slides = device(
        &d.get("/api/1/devices/video").admin().send().await.body,
        "test:slides",
    )
    .clone();
    assert_eq!(
        (slides["present"].as_bool(), slides["signal"].as_str()),
        (Some(true), Some("none"))
    );

    invoke("restore", "test:camera").await;
    invoke("restore", "test:slides").await;
    let video = d.get("/api/1/devices/video").admin().send().await.body;
    for id in ["test:camera", "test:slides"] {
        assert_eq!(
            (
                device(&video, id)["present"].as_bool(),
                device(&video, id)["signal"].as_str()
            ),
            (Some(true), Some("ok"))
        );
    }

    let reply = invoke("vanish", "test:projector").await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "plugins.invalid_args")
    );
    let reply = d
        .post("/api/1/plugins/test/services/vanish")
        .admin()
        .form(&[])
        .send()
        .await;
    assert_eq!(reply.code(), "plugins.invalid_args");
    let reply = d
        .post("/api/1/plugins/test/services/explode")
        .admin()
        .form(&[])
        .send()
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::NOT_FOUND, "plugins.unknown_service")
    );
    let reply = d.get("/api/1/plugins/nope/settings").admin().send().await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::NOT_FOUND, "plugins.not_found")
    );
}

#[tokio::test]
async fn test_plugin_settings_add_devices_and_bad_ones_change_nothing() {
    let d = TestDaemon::start().await;
    let mut settings = d
        .get("/api/1/plugins/test/settings")
        .admin()
        .send()
        .await
        .body;
    assert_eq!(settings["enabled"], "auto");
    settings["devices"].as_array_mut().unwrap().push(json!({
        "id": "podium", "name": "Podium camera", "type": "video", "role": "camera",
        "pattern": "gradient", "width": 640, "height": 360, "framerate": 25
    }));
    let devices = json!({"devices": settings["devices"]}).to_string();
    let reply = d
        .post("/api/1/plugins/test/settings")
        .admin()
        .form(&[("settings", devices.as_str())])
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let podium = device(
        &d.get("/api/1/devices/video").admin().send().await.body,
        "test:podium",
    )
    .clone();
    assert_eq!(podium["formats"][0]["framerates"], json!([25.0]));

    let before = d
        .get("/api/1/plugins/test/settings")
        .admin()
        .send()
        .await
        .body;
    let bad = json!({"devices": [{"id": "x", "name": "X", "type": "video", "role": "camera", "pattern": "plaid"}]}).to_string();
    let reply = d
        .post("/api/1/plugins/test/settings")
        .admin()
        .form(&[("settings", bad.as_str())])
        .send()
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "plugins.invalid_settings")
    );
    let unknown = json!({"colour": "blue"}).to_string();
    let reply = d
        .post("/api/1/plugins/test/settings")
        .admin()
        .form(&[("settings", unknown.as_str())])
        .send()
        .await;
    assert_eq!(reply.code(), "plugins.invalid_settings");
    assert_eq!(
        d.get("/api/1/plugins/test/settings")
            .admin()
            .send()
            .await
            .body,
        before
    );
    assert!(
        ids(&d.get("/api/1/devices/video").admin().send().await.body)
            .contains(&"test:podium".to_string())
    );
}

#[tokio::test]
async fn network_cameras_are_probed_masked_and_kept_across_restarts() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let d = TestDaemon::start_in(&dir, &Options::default());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let secret = "camera-secret-9876";
    let cameras = json!({"cameras": [
        {"id": "front", "name": "Front camera", "url": format!("rtsp://127.0.0.1:{port}/stream1"),
         "username": "viewer", "password": secret, "audio": true},
        {"id": "gone", "name": "Unplugged camera", "url": "rtsp://127.0.0.1:1/x"}
    ]})
    .to_string();
    let reply = d
        .post("/api/1/plugins/network/settings")
        .admin()
        .form(&[("settings", cameras.as_str())])
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(!reply.text.contains(secret), "secrets never come back");
    assert_eq!(reply.body["cameras"][0]["password"], "••••9876");

    let video = d.get("/api/1/devices/video").admin().send().await;
    assert!(!video.text.contains(secret));
    let front = device(&video.body, "network:front");
    assert_eq!(front["signal"], "ok", "a listening port is reachable");
    assert_eq!(
        front["path"],
        format!("rtsp://viewer:••••@127.0.0.1:{port}/stream1")
    );
    assert_eq!(device(&video.body, "network:gone")["signal"], "none");
    assert!(
        ids(&d.get("/api/1/devices/audio").admin().send().await.body)
            .contains(&"network:front:audio".to_string())
    );

    // Sending the masked settings back changes nothing; the camera closes and is seen so.
    let shown = d
        .get("/api/1/plugins/network/settings")
        .admin()
        .send()
        .await
        .body;
    let back = json!({"cameras": shown["cameras"]}).to_string();
    d.post("/api/1/plugins/network/settings")
        .admin()
        .form(&[("settings", back.as_str())])
        .send()
        .await;
    drop(listener);
    let probed = d
        .post("/api/1/plugins/network/services/redetect")
        .admin()
        .form(&[])
        .send()
        .await
        .body;
    assert_eq!(device(&probed, "network:front")["signal"], "none");

    let mut d = d;
    d.stop_within(std::time::Duration::from_secs(5)).unwrap();
    let again = TestDaemon::start_in(&dir, &Options::default());
    let settings = again
        .get("/api/1/plugins/network/settings")
        .admin()
        .send()
        .await
        .body;
    assert_eq!(
        settings["cameras"][0]["password"], "••••9876",
        "the stored secret survived the round trip and the restart"
    );
    assert_eq!(settings["cameras"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn plugins_are_listed_with_their_services() {
    let d = TestDaemon::start().await;
    let plugins = d.get("/api/1/plugins").admin().send().await.body;
    let get = |id: &str| {
        plugins
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(get("test")["enabled"], true);
    assert_eq!(
        get("v4l2")["enabled"],
        false,
        "--devices test disables hardware plugins"
    );
    assert_eq!(get("test")["kind"], "deviceCapture");
    let test = get("test");
    let services: Vec<&str> = test["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["redetect", "vanish", "loseSignal", "restore"]);
}

#[tokio::test]
async fn a_unit_without_capture_hardware_falls_back_to_test_devices() {
    let d = TestDaemon::start_with(Options {
        args: vec!["--devices".into(), "auto".into()],
        ..Options::default()
    })
    .await;
    let plugins = d.get("/api/1/plugins").admin().send().await.body;
    let enabled = |id: &str| {
        plugins
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .unwrap()["enabled"]
            .clone()
    };
    assert_eq!(
        (enabled("v4l2"), enabled("alsa"), enabled("test")),
        (json!(true), json!(true), json!(true))
    );
    let video = d.get("/api/1/devices/video").admin().send().await.body;
    assert!(
        video
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["plugin"] == "test"),
        "{video}"
    );
    assert_eq!(ids(&video).len(), 2);
}
