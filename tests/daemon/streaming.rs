//! Live streaming against a real RTMP server (Debian's nginx with the RTMP module) on
//! loopback: the stream is read back, the server is killed mid-stream and comes back, and
//! the recording made alongside is checked for gaps.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::capture::{
    assert_continuous, ffprobe, finished_package, main_file, seconds, start, stream,
};
use crate::common::TestDaemon;
use crate::publishing::free_port;

const KEY: &str = "castd-lecture-key-2911";

/// nginx in the foreground with its own configuration, serving RTMP on `port`.
struct Nginx {
    child: Option<Child>,
    dir: PathBuf,
}

impl Nginx {
    fn start(dir: &Path, port: u16) -> Nginx {
        for sub in ["logs", "rec", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let conf = format!(
            "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\n\
             daemon off; master_process off; error_log {dir}/logs/error.log info; pid {dir}/nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096;\n\
               application live {{ live on; record all; record_path {dir}/rec; record_unique on; }} }} }}\n",
            dir = dir.display()
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new("/usr/sbin/nginx")
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-p")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is installed (scripts/install-test-servers)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx {
            child: Some(child),
            dir: dir.to_path_buf(),
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The FLV files nginx recorded from the stream, oldest first.
    fn recordings(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.join("rec"))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| std::fs::metadata(p).map(|m| m.len() > 0).unwrap_or(false))
            .collect();
        files.sort();
        files
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn streaming_template(d: &TestDaemon, port: u16) {
    let template = json!({
        "id": "live", "name": "Live",
        "graph": {"root": "recording", "nodes": [
            {"id": "camera", "type": "videoDevice", "options": {"width": 320, "height": 180, "framerate": 30}, "children": ["video"]},
            {"id": "microphone", "type": "audioDevice", "children": ["audio"]},
            {"id": "video", "type": "h264Encoder", "options": {"bitrate": 400, "preset": "ultrafast", "keyframeInterval": 1}, "children": ["recording", "platform"]},
            {"id": "audio", "type": "aacEncoder", "options": {"bitrate": 64000}, "children": ["recording", "platform"]},
            {"id": "recording", "type": "fileRecorder"},
            {"id": "platform", "type": "rtmpOutput", "options": {"url": format!("rtmp://127.0.0.1:{port}/live"), "streamKey": KEY}}
        ]}
    })
    .to_string();
    let reply = d
        .post("/api/1/capture/templates")
        .admin()
        .form(&[("template", template.as_str())])
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

async fn platform(d: &TestDaemon) -> Value {
    let nodes = d.get("/api/1/sessionStatus").admin().send().await.body;
    nodes
        .as_array()
        .unwrap_or_else(|| panic!("{nodes}"))
        .iter()
        .find(|n| n["nodeID"] == "platform")
        .unwrap_or_else(|| panic!("{nodes}"))
        .clone()
}

async fn wait_stream(d: &TestDaemon, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let node = platform(d).await;
        if ok(&node["stream"]) {
            return node;
        }
        assert!(
            Instant::now() < deadline,
            "never {what}: {node}\n{}",
            d.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What GStreamer's discoverer finds in the live stream: (width, height, video caps, audio caps).
fn discover(uri: &str) -> (u32, u32, String, String) {
    use gstreamer_pbutils::prelude::*;
    gstreamer::init().unwrap();
    let discoverer =
        gstreamer_pbutils::Discoverer::new(gstreamer::ClockTime::from_seconds(15)).unwrap();
    let info = discoverer
        .discover_uri(uri)
        .expect("the live stream can be read back");
    let video = info.video_streams();
    let audio = info.audio_streams();
    assert_eq!(video.len(), 1, "one video stream");
    assert_eq!(audio.len(), 1, "one audio stream");
    let caps = |s: &gstreamer_pbutils::DiscovererStreamInfo| {
        s.caps()
            .map(|c| c.structure(0).unwrap().name().to_string())
            .unwrap_or_default()
    };
    (
        video[0].width(),
        video[0].height(),
        caps(video[0].upcast_ref()),
        caps(audio[0].upcast_ref()),
    )
}

#[tokio::test]
async fn a_stream_goes_live_survives_a_server_restart_and_never_disturbs_the_recording() {
    let d = TestDaemon::start().await;
    let nginx_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut nginx = Nginx::start(nginx_dir.path(), port);
    streaming_template(&d, port).await;

    let started = start(&d, json!({"templateID": "live"})).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let session = started.body["sessionID"].as_str().unwrap().to_string();
    let package_id = started.body["mediaPackageID"].as_str().unwrap().to_string();
    let began = Instant::now();

    let live = wait_stream(&d, "live", |s| s["state"] == "live" && s["alive"] == true).await;
    let stats = &live["stream"];
    assert_eq!(
        stats["url"],
        format!("rtmp://127.0.0.1:{port}/live/••••2911"),
        "the key is masked"
    );
    assert_eq!(stats["videoCodec"], "h264");
    assert_eq!(stats["audioCodec"], "aac");
    assert_eq!(
        (stats["width"].as_i64(), stats["height"].as_i64()),
        (Some(320), Some(180))
    );

    // Read the stream back from the server as a viewer would.
    let uri = format!("rtmp://127.0.0.1:{port}/live/{KEY}");
    let (w, h, vcaps, acaps) = tokio::task::spawn_blocking(move || discover(&uri))
        .await
        .unwrap();
    assert_eq!((w, h), (320, 180));
    assert_eq!(vcaps, "video/x-h264");
    assert_eq!(acaps, "audio/mpeg");
    let node = platform(&d).await;
    assert!(
        node["stream"]["bitrate"].as_u64().unwrap() > 100_000,
        "{node}"
    );
    assert!(node["stream"]["fps"].as_f64().unwrap() > 20.0, "{node}");

    // The platform goes away: the stream retries, the recording carries on.
    nginx.kill();
    let lost = wait_stream(&d, "reconnecting", |s| s["state"] == "reconnecting").await;
    assert!(lost["stream"]["lastError"].is_string(), "{lost}");
    let status = d.get("/api/1/status/capture").admin().send().await.body;
    assert_eq!(status["state"], "capturing", "{status}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let nginx_again = Nginx::start(nginx_dir.path(), port);
    let back = wait_stream(&d, "live again", |s| {
        s["state"] == "live" && s["alive"] == true
    })
    .await;
    assert!(
        back["stream"]["reconnects"].as_u64().unwrap() >= 1,
        "{back}"
    );

    // A platform switched off and on during the session, by its node services.
    let disable = d
        .post(&format!(
            "/api/1/graphBuilder/graphs/{session}/nodes/platform/services/disable"
        ))
        .admin()
        .form(&[])
        .send()
        .await;
    assert_eq!(disable.status, StatusCode::OK, "{}", disable.text);
    assert_eq!(disable.body["state"], "disabled");
    assert_eq!(disable.body["enabled"], false);
    let enable = d
        .post("/api/1/graphBuilder/graphs/live/nodes/platform/services/enable")
        .admin()
        .form(&[])
        .send()
        .await;
    assert_eq!(
        enable.status,
        StatusCode::OK,
        "by template id too: {}",
        enable.text
    );
    wait_stream(&d, "live after enable", |s| {
        s["state"] == "live" && s["alive"] == true
    })
    .await;
    let unknown = d
        .post("/api/1/graphBuilder/graphs/live/nodes/platform/services/explode")
        .admin()
        .form(&[])
        .send()
        .await;
    assert_eq!(unknown.code(), "graph.unknown_service");
    let missing = d
        .post("/api/1/graphBuilder/graphs/live/nodes/nothing/services/stats")
        .admin()
        .form(&[])
        .send()
        .await;
    assert_eq!(missing.code(), "graph.node_not_found");
    tokio::time::sleep(Duration::from_secs(2)).await;

    let stopped = crate::capture::action(&d, "stop").await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.text);
    let wall = began.elapsed().as_secs_f64();
    let package = finished_package(&d, &package_id).await;
    assert_eq!(package["state"], "complete", "{package}");

    // The recording ran through the outage without a gap.
    let probe = assert_continuous(&main_file(&package), wall, 1.5, 0.2);
    assert_eq!(stream(&probe, "audio")["codec_name"], "aac");

    // What the server received plays: h264 + aac at the template's size, from both connections.
    drop(nginx_again);
    let recordings = nginx.recordings();
    assert!(
        recordings.len() >= 2,
        "one FLV per connection: {recordings:?}"
    );
    for flv in &recordings {
        let p = ffprobe(flv);
        let v = stream(&p, "video");
        assert_eq!(v["codec_name"], "h264", "{}", flv.display());
        assert_eq!(
            (v["width"].as_i64(), v["height"].as_i64()),
            (Some(320), Some(180))
        );
        assert_eq!(stream(&p, "audio")["codec_name"], "aac");
    }
    // The first connection streamed for seconds; later ones may be short on a busy machine.
    let first = ffprobe(&recordings[0]);
    assert!(seconds(&first["format"]["duration"]) > 1.0, "{first}");
}
