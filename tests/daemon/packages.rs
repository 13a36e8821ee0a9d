//! Media packages, session outputs, previews, templates, crash recovery and hot starts.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use nix::sys::signal::Signal;
use reqwest::StatusCode;
use serde_json::json;

use crate::capture::{action, ffprobe, finished_package, main_file, small_template, start};
use crate::common::{self, Options, TestDaemon};

const JPEG_START: [u8; 2] = [0xff, 0xd8];

#[tokio::test]
async fn packages_are_listed_filtered_updated_downloaded_and_deleted() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let before = crate::store_now();
    let id = start(
        &d,
        json!({"templateID": "small", "tags": ["maths", "week-1"]}),
    )
    .await
    .body["sessionID"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // While recording: the node's file grows and can be read; nothing outside it can.
    let outputs = d.get("/api/1/sessionOutput").admin().send().await;
    assert_eq!(
        outputs.body["recording"][0]["file"], "recording.mp4",
        "{}",
        outputs.text
    );
    assert!(outputs.body["recording"][0]["size"].as_u64().unwrap() > 0);
    let node = d.get("/api/1/sessionOutput/recording").admin().send().await;
    assert_eq!(node.body, outputs.body["recording"]);
    let file = d
        .get("/api/1/sessionOutput/recording/recording.mp4")
        .admin()
        .send()
        .await;
    assert_eq!(file.status, StatusCode::OK);
    for bad in [
        "manifest.json",
        "..%2Fmanifest.json",
        "%2Fetc%2Fpasswd",
        "recording.mp4%00",
    ] {
        let reply = d
            .get(&format!("/api/1/sessionOutput/recording/{bad}"))
            .admin()
            .send()
            .await;
        assert!(reply.status.is_client_error(), "{bad}: {}", reply.status);
    }
    let reply = d
        .post(&format!("/api/1/capture/mediaPackages/{id}"))
        .admin()
        .form(&[("mediaPackage", r#"{"title":"x"}"#)])
        .send()
        .await;
    assert_eq!(reply.code(), "packages.busy", "no changes while recording");
    action(&d, "stop").await;
    let package = finished_package(&d, &id).await;
    assert_eq!(
        d.get("/api/1/sessionOutput").admin().send().await.code(),
        "session.none"
    );

    let list = d
        .get("/api/1/capture/mediaPackages?limit=10")
        .admin()
        .send()
        .await;
    assert_eq!(list.headers["x-total-count"], "1");
    assert_eq!(list.body[0]["id"], id);
    for (query, count) in [
        ("tag=maths", 1),
        ("tag=history", 0),
        (&format!("since={before}") as &str, 1),
        (&format!("since={}", before + 3_600_000), 0),
    ] {
        let reply = d
            .get(&format!("/api/1/capture/mediaPackages?{query}"))
            .admin()
            .send()
            .await;
        assert_eq!(reply.body.as_array().unwrap().len(), count, "{query}");
    }

    let changes =
        json!({"title": "Linear algebra 1", "tags": ["maths"], "metadata": {"course": "MA101"}})
            .to_string();
    let updated = d
        .post(&format!("/api/1/capture/mediaPackages/{id}"))
        .admin()
        .form(&[("mediaPackage", changes.as_str())])
        .send()
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    assert_eq!(updated.body["title"], "Linear algebra 1");
    assert_eq!(updated.body["metadata"]["course"], "MA101");
    let bad = d
        .post(&format!("/api/1/capture/mediaPackages/{id}"))
        .admin()
        .form(&[("mediaPackage", r#"{"title":""}"#)])
        .send()
        .await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "packages.invalid")
    );

    // Range requests give the asked part.
    let size = package["outputs"]["recording"]["size"].as_u64().unwrap();
    let part = d
        .get(&format!(
            "/api/1/capture/mediaPackages/{id}/outputs/recording"
        ))
        .admin()
        .header("range", "bytes=100-199")
        .send()
        .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers["content-range"],
        format!("bytes 100-199/{size}").as_str()
    );
    assert_eq!(part.headers["content-type"], "video/mp4");
    let whole = std::fs::read(main_file(&package)).unwrap();
    let reqwest_bytes = castd::http_client::builder()
        .build()
        .unwrap()
        .get(format!(
            "{}/api/1/capture/mediaPackages/{id}/outputs/recording",
            d.url
        ))
        .basic_auth("admin", Some(common::ADMIN_PASSWORD))
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&reqwest_bytes[..], &whole[100..200]);
    let thumb = d
        .get(&format!(
            "/api/1/capture/mediaPackages/{id}/outputs/thumbnail"
        ))
        .admin()
        .send()
        .await;
    assert_eq!(thumb.headers["content-type"], "image/jpeg");
    assert_eq!(
        d.get(&format!(
            "/api/1/capture/mediaPackages/{id}/outputs/nothing"
        ))
        .admin()
        .send()
        .await
        .code(),
        "packages.no_output"
    );

    // Outputs can only be files inside the package.
    let root = Path::new(package["root"].as_str().unwrap()).to_path_buf();
    std::fs::copy(root.join("thumbnail.jpg"), root.join("cover.jpg")).unwrap();
    let attach = |file: &str| {
        let output = json!({"entry": "cover", "type": "image/jpeg", "file": file}).to_string();
        let d = &d;
        let id = id.clone();
        async move {
            d.post(&format!("/api/1/capture/mediaPackages/{id}/outputs"))
                .admin()
                .form(&[("output", output.as_str())])
                .send()
                .await
        }
    };
    for bad in ["../../castd.db", "/etc/passwd", "cover.jpg/../../x"] {
        let reply = attach(bad).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::BAD_REQUEST, "packages.bad_path"),
            "{bad}"
        );
    }
    let attached = attach("cover.jpg").await;
    assert_eq!(attached.status, StatusCode::OK, "{}", attached.text);
    assert_eq!(
        attached.body["outputs"]["cover"]["size"].as_u64(),
        Some(std::fs::metadata(root.join("cover.jpg")).unwrap().len())
    );

    assert_eq!(
        d.delete(&format!("/api/1/capture/mediaPackages/{id}"))
            .admin()
            .send()
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert!(!root.exists(), "the package directory is gone");
    assert_eq!(
        d.get(&format!("/api/1/capture/mediaPackages/{id}"))
            .admin()
            .send()
            .await
            .code(),
        "packages.not_found"
    );
    assert_eq!(
        d.get("/api/1/capture/mediaPackages/..%2F..")
            .admin()
            .send()
            .await
            .code(),
        "packages.not_found"
    );
}

#[tokio::test]
async fn a_killed_daemon_leaves_a_playable_file_and_the_restart_recovers_the_package() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let mut d = TestDaemon::start_in(&dir, &Options::default());
    small_template(&d).await;
    let id = start(&d, json!({"templateID": "small"})).await.body["sessionID"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_secs(5)).await;
    common::signal(d.child(), Signal::SIGKILL);
    d.stop_within(Duration::from_secs(5));

    let file = dir.join("media").join(&id).join("recording.mp4");
    let probe = ffprobe(&file);
    let duration: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        duration >= 3.0,
        "the file plays to within 2 s of the kill: {duration} s"
    );
    assert_eq!(probe["streams"].as_array().unwrap().len(), 2);

    let again = TestDaemon::start_in(&dir, &Options::default());
    let package = finished_package(&again, &id).await;
    assert_eq!(package["state"], "partial", "{package}");
    assert!(package["error"].as_str().unwrap().contains("interrupted"));
    let recovered = ffprobe(&main_file(&package));
    let recovered_duration: f64 = recovered["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (recovered_duration - duration).abs() < 0.5,
        "{recovered_duration} vs {duration}"
    );
    let bytes = std::fs::read(main_file(&package)).unwrap();
    let moov = bytes.windows(4).position(|w| w == b"moov").unwrap();
    let mdat = bytes.windows(4).position(|w| w == b"mdat").unwrap();
    assert!(moov < mdat, "finalised to fast-start");
    assert_eq!(
        package["outputs"]["recording"]["size"].as_u64(),
        Some(bytes.len() as u64)
    );
}

#[tokio::test]
async fn with_hot_inputs_a_start_only_opens_the_gate() {
    let d = TestDaemon::start_with(Options {
        config_toml:
            "[auth]\nmax_failures_per_address = 100000\n[capture]\nkeep_inputs_hot = true\n".into(),
        ..Options::default()
    })
    .await;
    small_template(&d).await;
    d.post("/api/1/settings/defaultTemplate")
        .admin()
        .form(&[("value", "small")])
        .send()
        .await;
    // The daemon re-checks what to keep ready every two seconds.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let started = start(&d, json!({"title": "hot"})).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    assert_eq!(started.body["hotStart"], true, "{}", started.text);
    assert_eq!(started.body["templateID"], "small");
    let id = started.body["sessionID"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    action(&d, "stop").await;
    let package = finished_package(&d, &id).await;
    assert_eq!(package["state"], "complete");
    let probe = ffprobe(&main_file(&package));
    let duration: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let recorded = package["duration"].as_i64().unwrap() as f64 / 1000.0;
    assert!(
        (duration - recorded).abs() < 0.05,
        "nothing from before the start: {duration} s vs {recorded} s"
    );
    // A start with another template is cold.
    let cold = start(&d, json!({"templateID": "audio-only"})).await;
    assert_eq!(cold.body["hotStart"], false, "{}", cold.text);
    action(&d, "stop").await;
}

#[tokio::test]
async fn previews_show_devices_and_the_session() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let idle = d
        .get("/api/1/liveStreamViewer/session")
        .admin()
        .send()
        .await;
    assert_eq!(
        (idle.status, idle.code()),
        (StatusCode::NOT_FOUND, "preview.no_session")
    );

    let slides = d
        .post("/api/1/liveStreamViewer/video/test:slides")
        .admin()
        .send()
        .await;
    assert_eq!(slides.status, StatusCode::OK, "{}", slides.text);
    assert_eq!(slides.headers["content-type"], "image/jpeg");
    let again = castd::http_client::builder()
        .build()
        .unwrap()
        .get(format!(
            "{}/api/1/liveStreamViewer/video/test:slides",
            d.url
        ))
        .basic_auth("admin", Some(common::ADMIN_PASSWORD))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(again[..2], JPEG_START);

    let levels = d
        .get("/api/1/liveStreamViewer/audio/test:microphone")
        .admin()
        .send()
        .await;
    assert_eq!(levels.status, StatusCode::OK, "{}", levels.text);
    assert_eq!(levels.body["peak"].as_array().unwrap().len(), 2);
    assert_eq!(
        levels.body["silent"], false,
        "the test microphone plays a tone"
    );
    assert!(levels.body["rms"][0].as_f64().unwrap() > -40.0);

    for (path, code) in [
        (
            "/api/1/liveStreamViewer/video/test:nothing",
            "preview.unavailable",
        ),
        (
            "/api/1/liveStreamViewer/audio/test:camera",
            "preview.unavailable",
        ),
        (
            "/api/1/liveStreamViewer/video/test:microphone",
            "preview.unavailable",
        ),
    ] {
        let reply = d.get(path).admin().send().await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::NOT_FOUND, code),
            "{path}"
        );
    }

    start(&d, json!({"templateID": "small"})).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let picture = loop {
        let reply = d
            .get("/api/1/liveStreamViewer/session")
            .admin()
            .send()
            .await;
        if reply.status == StatusCode::OK {
            break reply;
        }
        assert!(
            Instant::now() < deadline,
            "no session picture: {}",
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(picture.headers["content-type"], "image/jpeg");
    // The camera the session uses is previewed from the session itself.
    let camera = d
        .get("/api/1/liveStreamViewer/video/test:camera")
        .admin()
        .send()
        .await;
    assert_eq!(camera.status, StatusCode::OK);
    // Figures are refreshed once a second.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let nodes = d.get("/api/1/sessionStatus").admin().send().await.body;
        let video = nodes
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["nodeID"] == "video")
            .unwrap()
            .clone();
        assert_eq!(video["encoder"], "x264enc");
        if video["fps"].as_f64().unwrap() > 0.0 && video["bitrate"].as_u64().unwrap() > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the encoder never reported its rate: {video}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    action(&d, "stop").await;
}

#[tokio::test]
async fn templates_are_validated_tested_preflighted_and_shown_as_pipelines() {
    let d = TestDaemon::start().await;
    let list = d.get("/api/1/capture/templates").admin().send().await.body;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    for id in ["lecture", "lecture-slides", "audio-only"] {
        assert!(ids.contains(&id), "{id} is a default template: {ids:?}");
    }
    assert_eq!(
        d.get("/api/1/capture/templates/Lecture")
            .admin()
            .send()
            .await
            .body["id"],
        "lecture"
    );

    let bad = json!({"name": "Broken", "graph": {"root": "rec", "nodes": [
        {"id": "cam", "type": "videoDevice", "children": ["enc"]},
        {"id": "enc", "type": "h264Encoder", "options": {"bitrate": 5}, "children": ["rec"]},
        {"id": "rec", "type": "fileRecorder"}
    ]}})
    .to_string();
    let reply = d
        .post("/api/1/capture/templates")
        .admin()
        .form(&[("template", bad.as_str())])
        .send()
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "templates.invalid")
    );
    assert_eq!(
        (
            reply.body["params"]["node"].as_str(),
            reply.body["params"]["option"].as_str()
        ),
        (Some("enc"), Some("bitrate"))
    );
    let cycle = json!({"name": "Cycle", "graph": {"root": "rec", "nodes": [
        {"id": "a", "type": "compositor", "options": {"layout": "single"}, "parents": ["b"], "children": ["b"]},
        {"id": "b", "type": "compositor", "options": {"layout": "single"}, "children": ["a"]},
        {"id": "rec", "type": "fileRecorder"}
    ]}})
    .to_string();
    let reply = d
        .post("/api/1/capture/templates")
        .admin()
        .form(&[("template", cycle.as_str())])
        .send()
        .await;
    assert_eq!(reply.code(), "templates.invalid", "{}", reply.text);

    let pipeline = d
        .get("/api/1/capture/templates/lecture/pipeline")
        .admin()
        .send()
        .await;
    assert_eq!(pipeline.status, StatusCode::OK);
    assert!(
        pipeline.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(
        pipeline.text.contains("gate = togglerecord"),
        "{}",
        pipeline.text
    );
    assert!(
        pipeline.text.contains("camera-src = videotestsrc"),
        "{}",
        pipeline.text
    );

    let preflight = d
        .post("/api/1/capture/templates/lecture/preflight")
        .admin()
        .form(&[])
        .send()
        .await;
    assert_eq!(preflight.body["overall"], "green", "{}", preflight.text);
    let args = json!({"device": "test:camera"}).to_string();
    d.post("/api/1/plugins/test/services/vanish")
        .admin()
        .form(&[("args", args.as_str())])
        .send()
        .await;
    let preflight = d
        .post("/api/1/capture/templates/lecture/preflight")
        .admin()
        .form(&[])
        .send()
        .await;
    assert_eq!(preflight.body["overall"], "red");
    let checks = preflight.body["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .any(|c| c["code"] == "device.missing" && c["nodeID"] == "camera"),
        "{checks:?}"
    );
    d.post("/api/1/plugins/test/services/restore")
        .admin()
        .form(&[("args", args.as_str())])
        .send()
        .await;

    small_template(&d).await;
    let report = d
        .post("/api/1/capture/templates/small/test")
        .admin()
        .form(&[("duration", "2000")])
        .send()
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.text);
    assert_eq!(report.body["ok"], true, "{}", report.text);
    let jpeg = base64::engine::general_purpose::STANDARD
        .decode(
            report.body["thumbnails"]["camera"]
                .as_str()
                .expect("a camera thumbnail"),
        )
        .unwrap();
    assert_eq!(jpeg[..2], JPEG_START);
    let camera = report.body["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["nodeID"] == "camera")
        .unwrap()
        .clone();
    assert!(camera["buffers"].as_u64().unwrap() > 20, "{camera}");
    assert_eq!(
        d.get("/api/1/capture/mediaPackages")
            .admin()
            .send()
            .await
            .body,
        json!([]),
        "a test keeps nothing"
    );
    let bad = d
        .post("/api/1/capture/templates/small/test")
        .admin()
        .form(&[("duration", "999999")])
        .send()
        .await;
    assert_eq!(bad.code(), "capture.invalid_request");

    assert_eq!(
        d.delete("/api/1/capture/templates/small")
            .admin()
            .send()
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        d.get("/api/1/capture/templates/small")
            .admin()
            .send()
            .await
            .code(),
        "templates.not_found"
    );
}
