//! What the benchmarks share: a `castd` binary started on a temporary data directory with
//! the `test` devices, and an admin client for its API.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const PASSWORD: &str = "bench-password";

pub struct Castd {
    pub child: Child,
    pub url: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
    pub data: PathBuf,
}

impl Drop for Castd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts castd, keeping inputs hot or not.
pub fn castd(hot: bool) -> Castd {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config = data.join("bench.toml");
    std::fs::write(&config, format!("[capture]\nkeep_inputs_hot = {hot}\n")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_castd"))
        .args(["--listen", "127.0.0.1:0", "--devices", "test", "--data-dir"])
        .arg(&data)
        .arg("--config")
        .arg(&config)
        .env("CASTD_ADMIN_PASSWORD", PASSWORD)
        .env("CASTD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("castd listening on ")
        .unwrap()
        .to_string();
    Castd {
        child,
        url,
        client: castd::http_client::builder().build().unwrap(),
        _dir: dir,
        data,
    }
}

impl Castd {
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (Value, Duration) {
        let started = Instant::now();
        let reply = self
            .client
            .post(format!("{}{path}", self.url))
            .basic_auth("admin", Some(PASSWORD))
            .form(form)
            .send()
            .await
            .unwrap();
        let took = started.elapsed();
        (reply.json().await.unwrap_or(Value::Null), took)
    }

    pub async fn get(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.url))
            .basic_auth("admin", Some(PASSWORD))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn start(&self, template: &str) -> (Value, Duration) {
        let request = json!({"templateID": template}).to_string();
        self.post("/api/1/capture/start", &[("captureRequest", &request)])
            .await
    }

    pub async fn wait_finished(&self, id: &str) -> Value {
        loop {
            let p = self
                .get(&format!("/api/1/capture/mediaPackages/{id}"))
                .await;
            if matches!(p["state"].as_str(), Some("complete" | "partial" | "failed")) {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// CPU seconds (user + system) a process has used.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / hz
}
