//! Publishing against real targets: a folder, and a real S3-compatible server (moto) on
//! loopback, including a daemon killed mid-upload that resumes without a second upload.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::capture::{finished_package, small_template, start};
use crate::common::{self, Options, TestDaemon};
pub use crate::common::{configure_publisher as configure, md5_hex, publish_jobs as jobs};

/// Records a short capture and returns its finished package.
pub async fn recorded_package(d: &TestDaemon, seconds: u64) -> Value {
    small_template(d).await;
    let started = start(
        d,
        json!({"templateID": "small", "title": "Publishing test"}),
    )
    .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let id = started.body["mediaPackageID"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let stopped = crate::capture::action(d, "stop").await;
    assert_eq!(
        stopped.status,
        StatusCode::OK,
        "{}\n{}",
        stopped.text,
        d.stderr()
    );
    let package = finished_package(d, &id).await;
    assert_eq!(package["state"], "complete", "{package}");
    publishing_decided(d, &id).await;
    package
}

/// Waits until the automatic publisher has decided about a finished package (to publish it
/// to the publishers configured then, or nowhere). It decides a moment after the package
/// finished, so a test that configures a publisher right after recording would otherwise
/// race it for whether the package is published by itself.
pub async fn publishing_decided(d: &TestDaemon, id: &str) {
    let db = d.data_dir.join("castd.db");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let decided = rusqlite::Connection::open(&db).ok().is_some_and(|c| {
            c.query_row(
                "SELECT 1 FROM publish_decided WHERE package_id = ?1",
                [id],
                |_| Ok(()),
            )
            .is_ok()
        });
        if decided {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the automatic publisher never decided about {id}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Bytes that do not repeat at any part boundary (xorshift), so a misplaced or swapped
/// part shows in an MD5.
pub fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Attaches a file of the package directory as an output; returns the package.
pub async fn attach(
    d: &TestDaemon,
    package_id: &str,
    entry: &str,
    mime: &str,
    file: &str,
) -> Value {
    let output = json!({"entry": entry, "type": mime, "file": file}).to_string();
    let reply = d
        .post(&format!(
            "/api/1/capture/mediaPackages/{package_id}/outputs"
        ))
        .admin()
        .form(&[("output", output.as_str())])
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body
}

/// Adds a file of `size` random bytes to a package as output `entry`.
pub async fn attach_random(d: &TestDaemon, package_id: &str, entry: &str, size: usize) -> PathBuf {
    let path = d
        .data_dir
        .join("media")
        .join(package_id)
        .join(format!("{entry}.bin"));
    std::fs::write(&path, noise(size)).unwrap();
    attach(
        d,
        package_id,
        entry,
        "application/octet-stream",
        &format!("{entry}.bin"),
    )
    .await;
    path
}

pub fn file_md5(path: &Path) -> String {
    md5_hex(&std::fs::read(path).unwrap())
}

/// testPublishing of `config` for `publisher`; the answer (always 200).
pub async fn test_config(d: &TestDaemon, publisher: &str, config: Value) -> Value {
    let request = json!({"publisherID": publisher, "config": config}).to_string();
    let reply = d
        .post("/api/1/capture/publishing/test")
        .admin()
        .form(&[("config", request.as_str())])
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body
}

/// A publisher plugin's service; its answer (must be 200).
pub async fn service(d: &TestDaemon, publisher: &str, name: &str, args: Value) -> Value {
    let args = args.to_string();
    let reply = d
        .post(&format!("/api/1/plugins/{publisher}/services/{name}"))
        .admin()
        .form(&[("args", args.as_str())])
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{name}: {}", reply.text);
    reply.body
}

/// Queues the package for `publisher` alone with its stored configuration.
pub async fn publish_to(d: &TestDaemon, package_id: &str, publisher: &str) {
    let jobs = publish(
        d,
        package_id,
        json!({"configs": [{"publisherID": publisher, "config": {}}]}),
    )
    .await;
    assert_eq!(jobs[0]["publisherID"], publisher, "{jobs}");
}

/// The package's job for `publisher` once it has ended (done, failed or cancelled);
/// `watch` runs at every poll (a peer's violations end the wait at once).
pub async fn ended_job(
    d: &TestDaemon,
    package_id: &str,
    publisher: &str,
    timeout: Duration,
    watch: impl Fn(&[Value]),
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let all = jobs(d, package_id).await;
        let job = all
            .iter()
            .find(|j| j["publisherID"] == publisher)
            .cloned()
            .unwrap_or(Value::Null);
        if matches!(job["state"].as_str(), Some("done" | "failed" | "cancelled")) {
            return job;
        }
        watch(&all);
        assert!(
            Instant::now() < deadline,
            "the {publisher} job never ended: {all:?}\n{}",
            d.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn publish(d: &TestDaemon, package_id: &str, request: Value) -> Value {
    let text = request.to_string();
    let reply = d
        .post(&format!(
            "/api/1/capture/mediaPackages/{package_id}/publish"
        ))
        .admin()
        .form(&[("publishRequest", text.as_str())])
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    reply.body
}

/// The package's job for `publisher` once `done` (panics when it ends otherwise).
pub async fn wait_done(
    d: &TestDaemon,
    package_id: &str,
    publisher: &str,
    timeout: Duration,
) -> Value {
    let job = ended_job(d, package_id, publisher, timeout, |_| {}).await;
    assert_eq!(job["state"], "done", "{job}\n{}", d.stderr());
    job
}

/// A moto S3 server on loopback, from the virtualenv scripts/install-test-servers makes.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub async fn start() -> Moto {
        let bin =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-servers/venv/bin/moto_server");
        assert!(
            bin.exists(),
            "{} is missing: run scripts/install-test-servers",
            bin.display()
        );
        let port = free_port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let client = castd::http_client::builder().build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while client.get(&url).send().await.is_err() {
            assert!(Instant::now() < deadline, "moto did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Moto { child, url }
    }

    pub async fn create_bucket(&self, bucket: &str) {
        let client = castd::http_client::builder().build().unwrap();
        let r = client
            .put(format!("{}/{bucket}", self.url))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }

    /// A GET as an S3 client makes it. moto refuses some anonymous reads (403 for video
    /// keys) and does not check signatures, so any SigV4-shaped authorization will do.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        castd::http_client::builder()
            .build()
            .unwrap()
            .get(format!("{}/{path}", self.url))
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDCASTD/20261123/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
            )
            .send()
            .await
            .unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn s3_config(moto: &Moto) -> Value {
    json!({"endpoint": moto.url, "bucket": "lectures", "prefix": "room-101",
           "accessKey": "AKIDCASTD", "secretKey": "castd-secret-key-12345", "partSize": 5 * 1024 * 1024})
}

#[tokio::test]
async fn configurations_are_validated_masked_tested_and_listed() {
    let d = TestDaemon::start().await;
    let moto = Moto::start().await;
    moto.create_bucket("lectures").await;

    let saved = configure(&d, "s3", s3_config(&moto)).await;
    assert_eq!(saved["publisherID"], "s3");
    assert_eq!(
        saved["config"]["secretKey"], "••••2345",
        "secrets are masked: {saved}"
    );
    assert_eq!(saved["config"]["bucket"], "lectures");

    // The masked secret sent back keeps the stored one: the test still passes.
    let test = json!({"publisherID": "s3", "config": saved["config"]}).to_string();
    let reply = d
        .post("/api/1/capture/publishing/test")
        .admin()
        .form(&[("config", test.as_str())])
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["ok"], true, "{}", reply.text);

    let unreachable = json!({"publisherID": "s3", "config": {"endpoint": format!("http://127.0.0.1:{}", free_port())}}).to_string();
    let reply = d
        .post("/api/1/capture/publishing/test")
        .admin()
        .form(&[("config", unreachable.as_str())])
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["ok"], false);
    assert_eq!(reply.body["code"], "publish.unreachable", "{}", reply.text);

    let bad_bucket =
        json!({"publisherID": "s3", "config": {"bucket": "no-such-bucket"}}).to_string();
    let reply = d
        .post("/api/1/capture/publishing/test")
        .admin()
        .form(&[("config", bad_bucket.as_str())])
        .send()
        .await;
    assert_eq!(reply.body["ok"], false);
    assert_eq!(
        reply.body["code"], "publish.invalid_config",
        "{}",
        reply.text
    );

    let tested = d
        .get("/api/1/capture/publishing/tested")
        .admin()
        .send()
        .await;
    assert_eq!(
        tested.body.as_array().unwrap().len(),
        1,
        "one result per publisher"
    );
    assert_eq!(tested.body[0]["code"], "publish.invalid_config");

    // Invalid configurations are refused whole, naming the field; nothing is stored.
    let text = json!({"partSize": 1000}).to_string();
    let reply = d
        .post("/api/1/capture/publishing/configurations/s3")
        .admin()
        .form(&[("config", text.as_str())])
        .send()
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text
    );
    assert_eq!(reply.code(), "publish.invalid_config");
    assert!(
        reply.body["params"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("partSize"),
        "{}",
        reply.text
    );
    let reply = d
        .post("/api/1/capture/publishing/configurations/youtube")
        .admin()
        .form(&[("config", "{}")])
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.code(), "publish.unknown_publisher");
    let configs = json!([{"publisherID": "local", "config": {"path": "/srv"}}, {"publisherID": "s3", "config": {"bucket": "X"}}]).to_string();
    let reply = d
        .post("/api/1/capture/publishing/configurations")
        .admin()
        .form(&[("configs", configs.as_str())])
        .send()
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "all or nothing: {}",
        reply.text
    );
    let local = d.get("/api/1/plugins/local/settings").admin().send().await;
    assert_eq!(
        local.body,
        json!({}),
        "the valid half was not stored either"
    );

    // Publishers are plugins: listed with their services, settings are the configuration.
    let plugins = d.get("/api/1/plugins").admin().send().await.body;
    let s3 = plugins
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "s3")
        .unwrap();
    assert_eq!(s3["kind"], "publisher");
    assert_eq!(s3["enabled"], true);
    let local = plugins
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "local")
        .unwrap();
    assert_eq!(local["enabled"], false, "not configured");
    let settings = d
        .get("/api/1/plugins/s3/settings")
        .admin()
        .send()
        .await
        .body;
    assert_eq!(settings["secretKey"], "••••2345");
    let listed = d
        .post("/api/1/plugins/s3/services/listObjects")
        .admin()
        .form(&[("args", "{}")])
        .send()
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(listed.body, json!([]));

    // A package that does not exist, and jobs that do not exist.
    let reply = d
        .post("/api/1/capture/mediaPackages/20260101-000000-abcdef/publish")
        .admin()
        .form(&[])
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
    let reply = d
        .get("/api/1/capture/publishing/jobs/job-000000000000")
        .admin()
        .send()
        .await;
    assert_eq!(reply.code(), "publish.job_not_found");
}

#[tokio::test]
async fn the_local_publisher_copies_whole_files_once() {
    let d = TestDaemon::start().await;
    let target = tempfile::tempdir().unwrap();
    let package = recorded_package(&d, 2).await;
    let id = package["id"].as_str().unwrap();
    // Recorded before the publisher is configured, so nothing publishes it by itself.
    let other = recorded_package(&d, 1).await;
    let other_id = other["id"].as_str().unwrap();
    configure(
        &d,
        "local",
        json!({"path": target.path(), "subfolder": "{date}/{title}-{id}"}),
    )
    .await;

    let queued = publish(&d, id, json!({"configs": [{"publisherID": "local"}]})).await;
    assert_eq!(queued.as_array().unwrap().len(), 1);
    let job = wait_done(&d, id, "local", Duration::from_secs(30)).await;
    assert_eq!(job["attempts"], 1);
    let url = job["url"].as_str().unwrap();
    let folder = PathBuf::from(url.strip_prefix("file://").unwrap());
    assert!(folder.starts_with(target.path()), "{url}");
    assert!(folder.ends_with(format!("Publishing_test-{id}")), "{url}");
    let source = crate::capture::main_file(&package);
    let copy = folder.join(source.file_name().unwrap());
    assert_eq!(
        md5_hex(&std::fs::read(&copy).unwrap()),
        md5_hex(&std::fs::read(&source).unwrap())
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(folder.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["id"], id);
    let leftovers: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name().to_string_lossy().ends_with(".partial")
                || e.file_name().to_string_lossy().ends_with(".tmp")
        })
        .collect();
    assert!(leftovers.is_empty(), "no temporary files remain");
    assert_eq!(job["progress"]["done"], job["progress"]["total"]);

    // Asking again returns the same finished job: nothing is copied twice.
    let again = publish(&d, id, json!({"configs": [{"publisherID": "local"}]})).await;
    assert_eq!(again[0]["id"], job["id"]);
    assert_eq!(again[0]["state"], "done");
    assert_eq!(again[0]["attempts"], 1);
    let noted = d
        .get(&format!("/api/1/capture/mediaPackages/{id}"))
        .admin()
        .send()
        .await
        .body;
    assert_eq!(noted["publishing"]["local"]["state"], "done", "{noted}");
    assert_eq!(noted["publishing"]["local"]["url"], url);

    // A target that cannot be written fails permanently, visibly, and can be retried.
    let blocker = target.path().join("not-a-folder");
    std::fs::write(&blocker, b"x").unwrap();
    let jobs_now = publish(
        &d,
        other_id,
        json!({"configs": [{"publisherID": "local", "config": {"path": blocker}}]}),
    )
    .await;
    let job_id = jobs_now[0]["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    let failed = loop {
        let j = d
            .get(&format!("/api/1/capture/publishing/jobs/{job_id}"))
            .admin()
            .send()
            .await
            .body;
        if j["lastError"].is_string() {
            break j;
        }
        assert!(Instant::now() < deadline, "{j}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        failed["lastError"]
            .as_str()
            .unwrap()
            .contains("not-a-folder"),
        "{failed}"
    );
    // A missing mount is worth retrying: the job waits for its next attempt.
    assert_eq!(failed["state"], "queued", "{failed}");
    assert_eq!(failed["lastCode"], "publish.unreachable", "{failed}");
    assert!(failed["nextAttemptAt"].as_i64().unwrap() > crate::store_now());
    // Deleting a package whose upload is still pending is refused.
    {
        let del = d
            .delete(&format!("/api/1/capture/mediaPackages/{other_id}"))
            .admin()
            .send()
            .await;
        assert_eq!(del.status, StatusCode::CONFLICT, "{}", del.text);
    }
    let cancelled = d
        .post(&format!("/api/1/capture/publishing/jobs/{job_id}/cancel"))
        .admin()
        .form(&[])
        .send()
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text);
    assert!(
        matches!(
            cancelled.body["state"].as_str(),
            Some("cancelled" | "failed")
        ),
        "{}",
        cancelled.text
    );
    let done_retry = d
        .post(&format!(
            "/api/1/capture/publishing/jobs/{}/retry",
            job["id"].as_str().unwrap()
        ))
        .admin()
        .form(&[])
        .send()
        .await;
    assert_eq!(done_retry.code(), "publish.not_retryable");
    let del = d
        .delete(&format!("/api/1/capture/mediaPackages/{other_id}"))
        .admin()
        .send()
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT, "{}", del.text);
}

#[tokio::test]
async fn finished_captures_publish_by_themselves_unless_the_request_says_no() {
    let d = TestDaemon::start().await;
    let target = tempfile::tempdir().unwrap();
    configure(&d, "local", json!({"path": target.path()})).await;

    let package = recorded_package(&d, 1).await;
    let id = package["id"].as_str().unwrap();
    let job = wait_done(&d, id, "local", Duration::from_secs(30)).await;
    assert!(
        target.path().join(id).join("manifest.json").exists(),
        "{job}"
    );

    // publishing=false in the capture request: nothing is queued.
    let started = start(&d, json!({"templateID": "small", "publishing": false})).await;
    let quiet = started.body["mediaPackageID"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_secs(1)).await;
    crate::capture::action(&d, "stop").await;
    finished_package(&d, &quiet).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(jobs(&d, &quiet).await.is_empty());

    // publishingOverrides are laid over the stored configuration.
    let elsewhere = tempfile::tempdir().unwrap();
    let started = start(
        &d,
        json!({"templateID": "small", "publishingOverrides": {"local": {"path": elsewhere.path()}}}),
    )
    .await;
    let moved = started.body["mediaPackageID"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_secs(1)).await;
    crate::capture::action(&d, "stop").await;
    finished_package(&d, &moved).await;
    wait_done(&d, &moved, "local", Duration::from_secs(30)).await;
    assert!(elsewhere.path().join(&moved).join("manifest.json").exists());
    assert!(!target.path().join(&moved).exists());
}

#[tokio::test]
async fn an_s3_upload_killed_midway_resumes_after_restart_without_a_second_upload() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let moto = Moto::start().await;
    moto.create_bucket("lectures").await;
    let mut d = TestDaemon::start_in(&dir, &Options::default());
    let package = recorded_package(&d, 2).await;
    let id = package["id"].as_str().unwrap().to_string();
    let big = attach_random(&d, &id, "slides", 18 * 1024 * 1024).await;
    configure(&d, "s3", s3_config(&moto)).await;
    // 16 Mbit/s: the 18 MiB file takes about 9 s and each 5 MiB part about 2.6 s, long
    // enough for the progress poll to see a part land and kill the daemon midway even on a
    // loaded machine.
    let reply = d
        .post("/api/1/settings/uploadLimitKbps")
        .admin()
        .form(&[("value", "16000")])
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    let queued = publish(&d, &id, json!({})).await;
    assert_eq!(
        queued[0]["publisherID"], "s3",
        "the configured publisher is the default"
    );
    // Wait until at least one part of the big file is on the server, then kill.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = jobs(&d, &id).await[0].clone();
        let (done, total) = (
            job["progress"]["done"].as_u64().unwrap(),
            job["progress"]["total"].as_u64().unwrap(),
        );
        if done >= package_main_size(&package) + 5 * 1024 * 1024 && done + 5 * 1024 * 1024 < total {
            break;
        }
        assert!(job["state"] != "done", "finished before the kill: {job}");
        assert!(Instant::now() < deadline, "{job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    common::signal(d.child(), Signal::SIGKILL);
    d.stop_within(Duration::from_secs(5));

    let d = TestDaemon::start_in(&dir, &Options::default());
    let job = wait_done(&d, &id, "s3", Duration::from_secs(90)).await;
    assert_eq!(
        job["attempts"], 2,
        "one interrupted attempt, one that finished: {job}"
    );
    let log = d.stderr();
    let resumed = log
        .lines()
        .find(|l| l.contains("resuming the upload of slides.bin"))
        .unwrap_or_else(|| panic!("no resume in the log:\n{log}"));
    assert!(
        !resumed.contains(": 0 of"),
        "parts already sent were kept: {resumed}"
    );

    // The object is exactly the file, assembled from one multipart upload of 4 parts.
    let key = format!("lectures/room-101/{id}/slides.bin");
    let object = moto.get(&key).await;
    assert_eq!(object.status(), 200);
    let etag = object.headers()["etag"]
        .to_str()
        .unwrap()
        .trim_matches('"')
        .to_string();
    assert!(etag.ends_with("-4"), "18 MiB in 5 MiB parts: {etag}");
    let bytes = object.bytes().await.unwrap();
    assert_eq!(md5_hex(&bytes), md5_hex(&std::fs::read(&big).unwrap()));
    let main = crate::capture::main_file(&package);
    let recording = moto
        .get(&format!(
            "lectures/room-101/{id}/{}",
            main.file_name().unwrap().to_string_lossy()
        ))
        .await;
    let status = recording.status();
    let body = recording.bytes().await.unwrap();
    assert_eq!(
        md5_hex(&body),
        md5_hex(&std::fs::read(&main).unwrap()),
        "{status} {} {:?}",
        main.display(),
        String::from_utf8_lossy(&body[..body.len().min(300)])
    );
    // No upload was left behind or started twice.
    let uploads = moto.get("lectures?uploads").await.text().await.unwrap();
    assert!(
        !uploads.contains("<Upload>"),
        "no dangling multipart upload: {uploads}"
    );
    let listing = d
        .post("/api/1/plugins/s3/services/listObjects")
        .admin()
        .form(&[("args", "{}")])
        .send()
        .await
        .body;
    let mut keys: Vec<String> = listing
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap().to_string())
        .collect();
    let mut expected: Vec<String> = package["outputs"]
        .as_object()
        .unwrap()
        .values()
        .map(|o| o["file"].as_str().unwrap().to_string())
        .chain(["slides.bin".to_string(), "manifest.json".to_string()])
        .map(|name| format!("room-101/{id}/{name}"))
        .collect();
    keys.sort();
    expected.sort();
    assert_eq!(keys, expected, "every output and the manifest, once each");
}

fn package_main_size(package: &Value) -> u64 {
    std::fs::metadata(crate::capture::main_file(package))
        .unwrap()
        .len()
}

#[tokio::test]
async fn uploads_wait_while_a_capture_runs_when_the_setting_says_so() {
    let d = TestDaemon::start().await;
    let target = tempfile::tempdir().unwrap();
    let package = recorded_package(&d, 1).await;
    let id = package["id"].as_str().unwrap();
    let reply = d
        .post("/api/1/settings/pauseUploadsWhileCapturing")
        .admin()
        .form(&[("value", "true")])
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let started = start(&d, json!({"templateID": "small", "publishing": false})).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let request = json!({"configs": [{"publisherID": "local", "config": {"path": target.path()}}]});
    publish(&d, id, request).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let waiting = jobs(&d, id).await;
    assert_ne!(
        waiting[0]["state"], "done",
        "held while capturing: {waiting:?}"
    );
    assert_eq!(waiting[0]["progress"]["done"], 0, "{waiting:?}");
    assert!(!target.path().join(id).exists());
    crate::capture::action(&d, "stop").await;
    wait_done(&d, id, "local", Duration::from_secs(30)).await;
    assert!(target.path().join(id).join("manifest.json").exists());
}
