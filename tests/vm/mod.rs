//! What the tests that run inside the VM share: the stable ids of the guest's virtual
//! devices, a castd started on a data directory and driven over HTTP, polling, ffprobe.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "../support/probe.rs"]
mod probe;
pub use probe::ffprobe;

pub const VIVID_0: &str = "v4l2:platform-vivid.0:vivid-000:index0";
pub const VIVID_1: &str = "v4l2:platform-vivid.0:vivid-001:index0";
pub const DUMMY: &str = "alsa:platform-snd_dummy.0:dev0";
pub const LOOP_0: &str = "alsa:platform-snd_aloop.0:dev0";
pub const LOOP_1: &str = "alsa:platform-snd_aloop.0:dev1";

pub const PASSWORD: &str = "vm-test-password";

/// A small template on the first vivid camera and the dummy sound card.
pub fn vm_template() -> Value {
    serde_json::json!({
        "id": "vm", "name": "VM",
        "graph": {"root": "recording", "nodes": [
            {"id": "camera", "type": "videoDevice", "options": {"device": VIVID_0, "width": 320, "height": 180, "framerate": 30}, "children": ["video"]},
            {"id": "microphone", "type": "audioDevice", "options": {"device": DUMMY}, "children": ["audio"]},
            {"id": "video", "type": "h264Encoder", "options": {"bitrate": 300, "preset": "ultrafast"}, "children": ["recording"]},
            {"id": "audio", "type": "aacEncoder", "options": {"bitrate": 64000}, "children": ["recording"]},
            {"id": "recording", "type": "fileRecorder"}
        ]}
    })
}

/// A castd with real devices on `data`, stopped however the test ends so it never holds
/// devices the next test needs.
pub struct Daemon {
    child: std::process::Child,
    pub url: String,
    pub client: reqwest::Client,
}

impl Daemon {
    /// Starts castd on `data` (created if missing) with `config` as its castd.toml.
    pub fn start(data: &Path, config: &str) -> Daemon {
        std::fs::create_dir_all(data).unwrap();
        std::fs::write(data.join("castd.toml"), config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_castd"))
            .args(["--listen", "127.0.0.1:0", "--devices", "auto", "--data-dir"])
            .arg(data)
            .arg("--config")
            .arg(data.join("castd.toml"))
            .env("CASTD_ADMIN_PASSWORD", PASSWORD)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let url = line
            .trim()
            .strip_prefix("castd listening on ")
            .unwrap_or_else(|| panic!("castd's first line: {line:?}"))
            .to_string();
        Daemon {
            child,
            url,
            client: castd::http_client::builder().build().unwrap(),
        }
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}{path}", self.url))
            .basic_auth("admin", Some(PASSWORD))
    }

    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.url))
            .basic_auth("admin", Some(PASSWORD))
            .form(form)
    }

    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null)
    }

    /// Posts a form and returns the answer, failing the test on a non-2xx status.
    pub async fn post_ok(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let reply = self.post(path, form).send().await.unwrap();
        let status = reply.status();
        let text = reply.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Polls `path` until `pred` holds (or fails after `secs`).
    pub async fn poll(&self, path: &str, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.get_json(path).await;
            if pred(&v) {
                return v;
            }
            assert!(Instant::now() < deadline, "{path} never matched: {v}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// A package once it has finished processing.
    pub async fn finished_package(&self, id: &str, secs: u64) -> Value {
        self.poll(&format!("/api/1/capture/mediaPackages/{id}"), secs, |p| {
            matches!(p["state"].as_str(), Some("complete" | "partial" | "failed"))
        })
        .await
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The duration ffprobe reads from a file's container, in seconds.
pub fn duration_s(probe: &Value) -> f64 {
    probe["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0)
}

/// The codec types of a probed file's streams.
pub fn stream_types(probe: &Value) -> Vec<String> {
    probe["streams"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|s| s["codec_type"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
