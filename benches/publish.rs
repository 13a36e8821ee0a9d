//! Publishing throughput and cost, measured against baselines from the same run:
//!
//! 1. Upload throughput of a 256 MiB output to an S3-compatible server on loopback (moto,
//!    8 MiB parts with Content-MD5), idle and while a capture runs, relative to `cp` of the
//!    same bytes to a local file (the fastest the bytes could possibly leave the disk).
//! 2. CPU castd uses while a capture runs, without and with an upload alongside.
//!
//! Needs the moto virtualenv of scripts/install-test-servers. Printed, never asserted.
#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks stop at once on a broken assumption; their helpers are theirs alone"
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Castd, castd, cpu_seconds};

const SIZE: usize = 256 * 1024 * 1024;
const MIB: f64 = 1024.0 * 1024.0;
const CPU_WINDOW: Duration = Duration::from_secs(8);

struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn moto() -> Moto {
    let bin =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-servers/venv/bin/moto_server");
    assert!(bin.exists(), "run scripts/install-test-servers first");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let client = castd::http_client::builder().build().unwrap();
    while client.get(&url).send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.put(format!("{url}/bench")).send().await.unwrap();
    Moto { child, url }
}

/// Records a short package and adds a large incompressible output to it.
async fn package_with_big_output(d: &Castd) -> (String, PathBuf) {
    let (started, _) = d.start("lecture").await;
    let id = started["mediaPackageID"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_secs(2)).await;
    d.post("/api/1/capture/stop", &[]).await;
    d.wait_finished(&id).await;
    let path = d.data.join("media").join(&id).join("lecture-slides.bin");
    let mut bytes = vec![0u8; SIZE];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for chunk in bytes.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(&path, &bytes).unwrap();
    let output = json!({"entry": "slides", "type": "application/octet-stream", "file": "lecture-slides.bin"}).to_string();
    d.post(
        &format!("/api/1/capture/mediaPackages/{id}/outputs"),
        &[("output", &output)],
    )
    .await;
    (id, path)
}

/// Seconds to copy `path` to a fresh local file and sync it, best of three.
fn cp_seconds(path: &Path) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    (0..3)
        .map(|i| {
            let target = dir.path().join(format!("copy{i}"));
            let started = Instant::now();
            let ok = Command::new("cp")
                .arg(path)
                .arg(&target)
                .status()
                .unwrap()
                .success();
            assert!(ok);
            std::fs::File::open(&target).unwrap().sync_all().unwrap();
            let took = started.elapsed().as_secs_f64();
            std::fs::remove_file(&target).unwrap();
            took
        })
        .fold(f64::INFINITY, f64::min)
}

/// Seconds for one plain `curl` PUT of the file to the same server: what the server itself
/// takes, without signing, parts or checksums.
fn curl_seconds(moto: &Moto, path: &Path) -> f64 {
    let started = Instant::now();
    let ok = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-T"])
        .arg(path)
        .arg(format!("{}/bench/curl-baseline.bin", moto.url))
        .status()
        .unwrap()
        .success();
    assert!(ok);
    started.elapsed().as_secs_f64()
}

/// Publishes the package to S3 under `prefix`; returns (seconds, castd CPU seconds, moto CPU seconds).
async fn upload(d: &Castd, moto: &Moto, id: &str, prefix: &str) -> (f64, f64, f64) {
    let request =
        json!({"configs": [{"publisherID": "s3", "config": {"prefix": prefix}}]}).to_string();
    let (cpu0, moto0) = (cpu_seconds(d.child.id()), cpu_seconds(moto.child.id()));
    let started = Instant::now();
    let (jobs, _) = d
        .post(
            &format!("/api/1/capture/mediaPackages/{id}/publish"),
            &[("publishRequest", &request)],
        )
        .await;
    let job = jobs[0]["id"].as_str().unwrap().to_string();
    loop {
        let j: Value = d
            .get(&format!("/api/1/capture/publishing/jobs/{job}"))
            .await;
        match j["state"].as_str() {
            Some("done") => break,
            Some("failed" | "cancelled") => panic!("upload failed: {j}"),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    (
        started.elapsed().as_secs_f64(),
        cpu_seconds(d.child.id()) - cpu0,
        cpu_seconds(moto.child.id()) - moto0,
    )
}

#[tokio::main]
async fn main() {
    let moto = moto().await;
    let d = castd(false);
    let (first, big) = package_with_big_output(&d).await;
    let (second, _) = package_with_big_output(&d).await;
    let config = json!({"endpoint": moto.url, "bucket": "bench", "accessKey": "AK", "secretKey": "bench-secret-key", "partSize": 8 * 1024 * 1024}).to_string();
    d.post(
        "/api/1/capture/publishing/configurations/s3",
        &[("config", &config)],
    )
    .await;

    let cp = cp_seconds(&big);
    let curl = curl_seconds(&moto, &big);
    let (idle, idle_cpu, idle_moto) = upload(&d, &moto, &first, "idle").await;

    // A capture alone, then the same capture with an upload alongside.
    let (started, _) = d.start("lecture").await;
    let busy_id = started["mediaPackageID"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu0 = cpu_seconds(d.child.id());
    tokio::time::sleep(CPU_WINDOW).await;
    let capture_only = (cpu_seconds(d.child.id()) - cpu0) / CPU_WINDOW.as_secs_f64();
    let (busy, busy_cpu, _) = upload(&d, &moto, &second, "busy").await;
    let with_upload = busy_cpu / busy;
    d.post("/api/1/capture/stop", &[]).await;
    let recorded = d.wait_finished(&busy_id).await;

    let size_mib = SIZE as f64 / MIB;
    let rate = |s: f64| size_mib / s;
    println!(
        "publishing {size_mib:.0} MiB to S3 (moto on loopback, 8 MiB parts, Content-MD5 per part)"
    );
    println!("  cp to a local file (baseline):   {:7.1} MiB/s", rate(cp));
    println!(
        "  one curl PUT to the same server: {:7.1} MiB/s  (the server's own limit)",
        rate(curl)
    );
    println!(
        "  castd upload, idle:              {:7.1} MiB/s  ratio {:.3} of cp, {:.2} of curl; castd {:.2} CPU s ({:.1} ms per MiB), moto {:.2} CPU s",
        rate(idle),
        cp / idle,
        curl / idle,
        idle_cpu,
        idle_cpu * 1000.0 / size_mib,
        idle_moto
    );
    println!(
        "  castd upload, capture running:   {:7.1} MiB/s  ratio {:.3} of cp, {:.2} of curl",
        rate(busy),
        cp / busy,
        curl / busy
    );
    println!("CPU of castd (cores busy) while the lecture template records");
    println!("  capture only:            {capture_only:.3}");
    println!(
        "  capture + upload:        {with_upload:.3}  ratio {:.2}",
        with_upload / capture_only
    );
    println!(
        "  the recording made alongside: state {}, {} ms, {}",
        recorded["state"], recorded["duration"], recorded["error"]
    );
}
