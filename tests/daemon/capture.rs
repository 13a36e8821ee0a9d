//! Capturing with real pipelines and the `test` devices: start, pause, stop, markers,
//! duration, packages read back with a real demuxer (ffprobe).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Reply, TestDaemon};
pub use crate::common::{main_file, seconds};

/// A light template (small picture, fastest encoder) so tests running side by side keep up
/// in real time on two cores.
pub async fn small_template(d: &TestDaemon) {
    crate::common::save_light_template(d, "small", 320, 180, 400).await;
}

pub async fn start(d: &TestDaemon, request: Value) -> Reply {
    let body = request.to_string();
    d.post("/api/1/capture/start")
        .admin()
        .form(&[("captureRequest", body.as_str())])
        .send()
        .await
}

pub async fn action(d: &TestDaemon, name: &str) -> Reply {
    d.post(&format!("/api/1/capture/{name}"))
        .admin()
        .form(&[])
        .send()
        .await
}

/// Polls a media package until it is finished (complete, partial or failed).
pub async fn finished_package(d: &TestDaemon, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = d
            .get(&format!("/api/1/capture/mediaPackages/{id}"))
            .admin()
            .send()
            .await
            .body;
        if matches!(p["state"].as_str(), Some("complete" | "partial" | "failed")) {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "package {id} never finished: {p}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub use crate::common::probe::{ffprobe, sample_descriptions};

/// Presentation times of one stream's packets (`v` or `a`), sorted.
pub fn packet_times(path: &Path, stream: &str) -> Vec<f64> {
    crate::common::probe::packets(path, stream)
        .into_iter()
        .map(|(pts, _)| pts)
        .collect()
}

/// Checks that a recording lasts about `wall` seconds (within `tolerance`) and that no two
/// video frames are more than `max_gap` seconds apart; returns its ffprobe answer.
pub fn assert_continuous(file: &Path, wall: f64, tolerance: f64, max_gap: f64) -> Value {
    let probe = ffprobe(file);
    let duration = seconds(&probe["format"]["duration"]);
    assert!(
        (duration - wall).abs() < tolerance,
        "recorded {duration} s of {wall} s"
    );
    for (track, entries) in sample_descriptions(file) {
        assert_eq!(entries, 1, "{track}: {entries} sample descriptions");
    }
    let times = packet_times(file, "v:0");
    let largest_gap = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    assert!(
        largest_gap < max_gap,
        "largest gap between frames {largest_gap} s"
    );
    probe
}

pub fn stream<'a>(probe: &'a Value, kind: &str) -> &'a Value {
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} stream in {probe}"))
}

/// Mean brightness (0-255) of a JPEG, decoded by ffmpeg.
pub fn mean_luma(jpeg: &[u8]) -> f64 {
    let mut child = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "image2pipe",
            "-i",
            "-",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(jpeg).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.stdout.is_empty(), "ffmpeg decoded nothing");
    out.stdout.iter().map(|b| f64::from(*b)).sum::<f64>() / out.stdout.len() as f64
}

const FRAME: f64 = 1.0 / 30.0;
const AAC_FRAME: f64 = 1024.0 / 48000.0;

#[tokio::test]
async fn start_and_stop_make_a_complete_package_with_video_and_audio() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let reply = start(
        &d,
        json!({"templateID": "Small", "title": "Physics 101", "tags": ["physics"]}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.body["state"], "capturing");
    assert_eq!(reply.body["templateID"], "small");
    assert_eq!(reply.body["encoders"], json!(["x264enc", "voaacenc"]));
    let id = reply.body["sessionID"].as_str().unwrap().to_string();

    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = d.get("/api/1/status/capture").admin().send().await.body;
    assert_eq!(status["state"], "capturing");
    assert!(status["elapsed"].as_i64().unwrap() >= 2900, "{status}");
    let stopped = action(&d, "stop").await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.text);
    assert_eq!(stopped.body["state"], "processing");

    let package = finished_package(&d, &id).await;
    assert_eq!(package["state"], "complete", "{package}");
    assert_eq!(package["title"], "Physics 101");
    assert_eq!(package["tags"], json!(["physics"]));
    assert_eq!(package["templateID"], "small");
    let recorded = package["duration"].as_i64().unwrap() as f64 / 1000.0;
    let file = main_file(&package);
    let probe = ffprobe(&file);
    let (video, audio) = (stream(&probe, "video"), stream(&probe, "audio"));
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(320), Some(180))
    );
    assert_eq!(audio["codec_name"], "aac");
    assert_eq!(audio["sample_rate"], "48000");
    let duration = seconds(&probe["format"]["duration"]);
    assert!(
        (duration - recorded).abs() <= FRAME * 1.5,
        "file {duration} s, recorded {recorded} s"
    );
    let (v, a) = (seconds(&video["duration"]), seconds(&audio["duration"]));
    assert!((v - a).abs() <= AAC_FRAME * 1.5, "video {v} s, audio {a} s");
    let mut descriptions = sample_descriptions(&file);
    descriptions.sort();
    assert_eq!(
        descriptions,
        [("soun".to_string(), 1), ("vide".to_string(), 1)],
        "one sample description per track"
    );
    // fast-start: the index comes before the media
    let head = std::fs::read(&file).unwrap();
    let moov = head.windows(4).position(|w| w == b"moov").unwrap();
    let mdat = head.windows(4).position(|w| w == b"mdat").unwrap();
    assert!(moov < mdat, "moov at {moov}, mdat at {mdat}");
    assert_eq!(
        package["outputs"]["recording"]["size"].as_u64(),
        Some(head.len() as u64)
    );
    assert_eq!(
        package["outputs"]["recording"]["md5"]
            .as_str()
            .unwrap()
            .len(),
        32
    );
    assert_eq!(package["outputs"]["thumbnail"]["type"], "image/jpeg");
    // the manifest next to the files says the same
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(Path::new(package["root"].as_str().unwrap()).join("manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest, package);
    assert_eq!(
        d.get("/api/1/status/capture").admin().send().await.body,
        json!({"state": "idle"})
    );
}

/// The built-in lecture template (1280×720, x264 `veryfast`): reading its fragmented
/// recording back, the demuxer announced the video's caps again fragment after fragment
/// (alternating the frame rate with 0/1), and the finished file got a sample description
/// for each: over 1,024 after ten minutes, which FFmpeg refuses to open.
#[tokio::test]
async fn a_lecture_recording_has_one_sample_description_per_track() {
    let d = TestDaemon::start().await;
    let reply = start(&d, json!({"templateID": "lecture"})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let id = reply.body["sessionID"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_secs(6)).await;
    action(&d, "stop").await;
    let package = finished_package(&d, &id).await;
    assert_eq!(package["state"], "complete", "{package}");
    let file = main_file(&package);
    let mut descriptions = sample_descriptions(&file);
    descriptions.sort();
    assert_eq!(
        descriptions,
        [("soun".to_string(), 1), ("vide".to_string(), 1)]
    );
    let frames = packet_times(&file, "v:0").len();
    assert!(frames >= 150, "{frames} video frames read back");
}

#[tokio::test]
async fn three_pauses_are_cut_out_without_gaps_and_audio_stays_aligned() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let id = start(&d, json!({"templateID": "small"})).await.body["sessionID"]
        .as_str()
        .unwrap()
        .to_string();
    for (record_ms, pause_ms) in [(1500, 700), (1000, 1200), (800, 500)] {
        tokio::time::sleep(Duration::from_millis(record_ms)).await;
        let paused = action(&d, "pause").await;
        assert_eq!(paused.body["state"], "paused", "{}", paused.text);
        let preview = d
            .get("/api/1/liveStreamViewer/session")
            .admin()
            .send()
            .await;
        assert_eq!(
            preview.status,
            StatusCode::OK,
            "previews keep running while paused"
        );
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        assert_eq!(action(&d, "resume").await.body["state"], "capturing");
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let stopped = action(&d, "stop").await.body;
    assert!(
        stopped["pausedTotal"].as_i64().unwrap() >= 2400,
        "{stopped}"
    );
    let package = finished_package(&d, &id).await;
    let recorded = package["duration"].as_i64().unwrap() as f64 / 1000.0;
    assert!(
        (recorded - 4.3).abs() < 0.3,
        "recorded {recorded} s of 4.3 s asked"
    );
    let file = main_file(&package);
    let probe = ffprobe(&file);
    let (v, a) = (
        seconds(&stream(&probe, "video")["duration"]),
        seconds(&stream(&probe, "audio")["duration"]),
    );
    assert!(
        (v - recorded).abs() <= FRAME * 1.5,
        "video {v} s, recorded {recorded} s"
    );
    assert!((v - a).abs() <= AAC_FRAME * 1.5, "video {v} s, audio {a} s");
    let frames = packet_times(&file, "v");
    let widest = frames.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    assert!(widest <= FRAME * 1.5, "the video has a gap of {widest} s");
    assert!(
        (frames.len() as f64 * FRAME - v).abs() <= FRAME * 1.5,
        "{} frames for {v} s",
        frames.len()
    );
}

#[tokio::test]
async fn a_duration_stops_the_capture_and_extend_moves_the_stop() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let started = start(&d, json!({"templateID": "small", "duration": 2000})).await;
    assert!(
        started.body["remaining"].as_i64().unwrap() > 1500,
        "{}",
        started.text
    );
    let id = started.body["sessionID"].as_str().unwrap().to_string();
    let extended = d
        .post("/api/1/capture/extend")
        .admin()
        .form(&[("duration", "1500")])
        .send()
        .await;
    assert_eq!(extended.status, StatusCode::OK, "{}", extended.text);
    assert!(
        extended.body["remaining"].as_i64().unwrap() > 3000,
        "{}",
        extended.text
    );
    let package = finished_package(&d, &id).await;
    let recorded = package["duration"].as_i64().unwrap();
    assert!(
        (3400..=4000).contains(&recorded),
        "recorded {recorded} ms of 3500"
    );
    assert_eq!(package["state"], "complete");
}

#[tokio::test]
async fn markers_land_on_the_recorded_timeline() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let id = start(&d, json!({"templateID": "small"})).await.body["sessionID"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    action(&d, "pause").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let marker = d
        .post("/api/1/capture/marker")
        .admin()
        .form(&[("title", "Question"), ("description", "from the back row")])
        .send()
        .await;
    assert_eq!(marker.status, StatusCode::CREATED, "{}", marker.text);
    let time = marker.body["time"].as_i64().unwrap();
    assert!(
        (950..=1300).contains(&time),
        "a pause does not move recorded time: {time}"
    );
    action(&d, "resume").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    action(&d, "stop").await;
    let package = finished_package(&d, &id).await;
    assert_eq!(package["markers"][0]["title"], "Question");
    assert_eq!(package["markers"][0]["time"].as_i64(), Some(time));
}

#[tokio::test]
async fn wrong_states_and_a_second_start_are_refused_with_their_codes() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let check = |reply: Reply, status: StatusCode, code: &str| {
        assert_eq!(
            (reply.status, reply.code()),
            (status, code),
            "{}",
            reply.text
        );
    };
    check(
        action(&d, "stop").await,
        StatusCode::CONFLICT,
        "capture.idle",
    );
    check(
        action(&d, "pause").await,
        StatusCode::CONFLICT,
        "capture.idle",
    );
    check(
        action(&d, "resume").await,
        StatusCode::CONFLICT,
        "capture.idle",
    );
    check(
        d.post("/api/1/capture/marker")
            .admin()
            .form(&[("title", "x")])
            .send()
            .await,
        StatusCode::CONFLICT,
        "capture.idle",
    );
    check(
        start(&d, json!({"templateID": "nope"})).await,
        StatusCode::NOT_FOUND,
        "templates.not_found",
    );
    check(
        start(&d, json!({"title": "no template"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "capture.no_template",
    );
    check(
        start(&d, json!({"templateID": "small", "duration": -5})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "capture.invalid_request",
    );
    check(
        start(
            &d,
            json!({"templateID": "small", "duration": 9_223_372_036_854_775_807_i64}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "capture.invalid_request",
    );
    let reply = d
        .post("/api/1/capture/start")
        .admin()
        .form(&[])
        .send()
        .await;
    check(reply, StatusCode::BAD_REQUEST, "request.missing_param");

    let id = start(&d, json!({"templateID": "small"})).await.body["sessionID"]
        .as_str()
        .unwrap()
        .to_string();
    check(
        start(&d, json!({"templateID": "small"})).await,
        StatusCode::CONFLICT,
        "capture.already_running",
    );
    check(
        action(&d, "resume").await,
        StatusCode::CONFLICT,
        "capture.not_paused",
    );
    check(
        d.post("/api/1/capture/extend")
            .admin()
            .form(&[("duration", "1000")])
            .send()
            .await,
        StatusCode::CONFLICT,
        "capture.no_stop_time",
    );
    action(&d, "pause").await;
    check(
        action(&d, "pause").await,
        StatusCode::CONFLICT,
        "capture.not_capturing",
    );
    check(
        d.post("/api/1/capture/stop")
            .admin()
            .form(&[("sessionID", "someone-else")])
            .send()
            .await,
        StatusCode::NOT_FOUND,
        "capture.session_not_found",
    );
    check(
        d.delete(&format!("/api/1/capture/mediaPackages/{id}"))
            .admin()
            .send()
            .await,
        StatusCode::CONFLICT,
        "packages.busy",
    );
    check(
        d.delete("/api/1/capture/templates/small")
            .admin()
            .send()
            .await,
        StatusCode::CONFLICT,
        "templates.in_use",
    );
    assert_eq!(action(&d, "stop").await.status, StatusCode::OK);
    finished_package(&d, &id).await;
}

#[tokio::test]
async fn a_start_that_would_not_fit_on_the_disk_is_refused() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    d.post("/api/1/settings/diskReserveMb")
        .admin()
        .form(&[("value", "1048576")])
        .send()
        .await;
    let reply = start(&d, json!({"templateID": "small", "duration": 60000})).await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::CONFLICT, "capture.disk_low"),
        "{}",
        reply.text
    );
    assert!(reply.body["params"]["needed"].as_u64().unwrap() > 0);
    assert_eq!(
        d.get("/api/1/status/capture").admin().send().await.body["state"],
        "idle"
    );
    let (list, _) = (
        d.get("/api/1/capture/mediaPackages")
            .admin()
            .send()
            .await
            .body,
        (),
    );
    assert_eq!(list, json!([]), "a refused start leaves no package");
}

#[tokio::test]
async fn a_source_that_loses_its_signal_is_replaced_by_the_slate_and_comes_back() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let id = start(&d, json!({"templateID": "small"})).await.body["sessionID"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let args = json!({"device": "test:camera"}).to_string();
    let vanish = d
        .post("/api/1/plugins/test/services/vanish")
        .admin()
        .form(&[("args", args.as_str())])
        .send()
        .await;
    assert_eq!(vanish.status, StatusCode::OK);
    async fn node_state(d: &TestDaemon) -> Value {
        let nodes = d.get("/api/1/sessionStatus").admin().send().await.body;
        nodes
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["nodeID"] == "camera")
            .unwrap()
            .clone()
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let lost = loop {
        let camera = node_state(&d).await;
        if camera["state"] == "no-signal" {
            break camera;
        }
        assert!(
            Instant::now() < deadline,
            "the camera never lost its signal: {camera}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(lost["signal"], "none");
    assert!(lost["signalLostSince"].as_i64().is_some());
    // What is recorded now is the slate: dark grey, where the test camera shows colour bars.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let slate = mean_luma(
        &d.get("/api/1/liveStreamViewer/session")
            .admin()
            .send_bytes()
            .await,
    );
    assert!(slate < 60.0, "the picture is the slate (mean luma {slate})");
    // the rest of the session goes on
    let mic = d.get("/api/1/sessionStatus").admin().send().await.body;
    assert!(
        mic.as_array()
            .unwrap()
            .iter()
            .any(|n| n["nodeID"] == "microphone" && n["state"] == "running")
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    d.post("/api/1/plugins/test/services/restore")
        .admin()
        .form(&[("args", args.as_str())])
        .send()
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let camera = node_state(&d).await;
        if camera["state"] == "running" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the camera never came back: {camera}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    action(&d, "stop").await;
    let package = finished_package(&d, &id).await;
    let recorded = package["duration"].as_i64().unwrap() as f64 / 1000.0;
    let probe = ffprobe(&main_file(&package));
    let v = seconds(&stream(&probe, "video")["duration"]);
    assert!(
        (v - recorded).abs() <= FRAME * 1.5,
        "the slate filled the gap: video {v} s of {recorded} s"
    );
    let frames = packet_times(&main_file(&package), "v");
    let widest = frames.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    assert!(widest <= FRAME * 1.5, "gap of {widest} s");
}

#[tokio::test]
async fn a_disk_filling_up_ends_the_recording_cleanly_with_an_alarm() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let id = start(&d, json!({"templateID": "small"})).await.body["sessionID"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Reserving (nearly) the whole disk leaves less than the 30 s the guard keeps free.
    d.post("/api/1/settings/diskReserveMb")
        .admin()
        .form(&[("value", "1048576")])
        .send()
        .await;
    let package = finished_package(&d, &id).await;
    assert_eq!(package["state"], "partial", "{package}");
    assert!(
        package["error"].as_str().unwrap().contains("disk"),
        "{package}"
    );
    let probe = ffprobe(&main_file(&package));
    assert_eq!(
        probe["streams"].as_array().unwrap().len(),
        2,
        "the file was completed"
    );
    let status = d.get("/api/1/status").admin().send().await.body;
    assert!(
        status["alarms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["code"] == "disk.full"),
        "{status}"
    );
    assert_eq!(status["capture"]["state"], "idle");
}

#[tokio::test]
async fn concurrent_captures_run_side_by_side_when_enabled() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    assert_eq!(
        d.get("/api/1/capture/concurrentCapturesEnabled")
            .admin()
            .send()
            .await
            .body,
        json!({"enabled": false})
    );
    d.post("/api/1/settings/concurrentCaptures")
        .admin()
        .form(&[("value", "true")])
        .send()
        .await;
    assert_eq!(
        d.get("/api/1/capture/concurrentCapturesEnabled")
            .admin()
            .send()
            .await
            .body,
        json!({"enabled": true})
    );
    let first = start(&d, json!({"templateID": "small"})).await.body["sessionID"]
        .as_str()
        .unwrap()
        .to_string();
    let second = start(&d, json!({"templateID": "audio-only"})).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.text);
    let second = second.body["sessionID"].as_str().unwrap().to_string();
    let ambiguous = action(&d, "pause").await;
    assert_eq!(
        (ambiguous.status, ambiguous.code()),
        (StatusCode::CONFLICT, "capture.session_required")
    );
    let paused = d
        .post("/api/1/capture/pause")
        .admin()
        .form(&[("sessionID", second.as_str())])
        .send()
        .await;
    assert_eq!(paused.body["sessionID"], second.as_str());
    assert_eq!(paused.body["state"], "paused");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    for id in [&first, &second] {
        let stopped = d
            .post("/api/1/capture/stop")
            .admin()
            .form(&[("sessionID", id.as_str())])
            .send()
            .await;
        assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.text);
    }
    assert_eq!(finished_package(&d, &first).await["state"], "complete");
    let audio = finished_package(&d, &second).await;
    assert_eq!(audio["state"], "complete");
    assert_eq!(audio["outputs"]["recording"]["type"], "audio/mp4");
}

/// A template is never deleted while a capture of it starts: either the deletion comes
/// first (and the start finds no template) or the start does (and the deletion is refused
/// while it records). The deletion is sent while the start is under way, when the engine
/// has read the template but not yet reported the session.
#[tokio::test]
async fn a_template_is_not_deleted_while_a_capture_of_it_starts() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let starting = start(&d, json!({"templateID": "small", "duration": 60000}));
    let deleting = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        d.delete("/api/1/capture/templates/small")
            .admin()
            .send()
            .await
    };
    let (started, deleted) = tokio::join!(starting, deleting);
    let template = d.get("/api/1/capture/templates/small").admin().send().await;
    if started.status == StatusCode::CREATED {
        assert_eq!(
            (deleted.status, deleted.code()),
            (StatusCode::CONFLICT, "templates.in_use"),
            "{}",
            deleted.text
        );
        assert_eq!(template.status, StatusCode::OK, "{}", template.text);
        let id = started.body["sessionID"].as_str().unwrap().to_string();
        assert_eq!(action(&d, "stop").await.status, StatusCode::OK);
        finished_package(&d, &id).await;
    } else {
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
        assert_eq!(started.code(), "templates.not_found", "{}", started.text);
        assert_eq!(template.status, StatusCode::NOT_FOUND);
    }
}
