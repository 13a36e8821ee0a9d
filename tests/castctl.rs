//! `castctl` against a real castd: tables, `--json`, capture control, credentials from
//! flags, environment and the config file, exit codes, the event stream, backup, publish.
#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks stop at once on a broken assumption; their helpers are theirs alone"
)]

#[allow(dead_code)]
#[path = "daemon/common.rs"]
mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::{ADMIN_PASSWORD, TestDaemon};
use serde_json::Value;
use tokio::io::AsyncBufReadExt as _;

/// A castctl command with a clean environment: no credentials from the caller's
/// environment, and a home directory of its own (so no real config file is read).
fn castctl(home: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_castctl"));
    cmd.env_remove("CASTD_URL")
        .env_remove("CASTD_USER")
        .env_remove("CASTD_PASSWORD")
        .env_remove("XDG_CONFIG_HOME")
        .env("HOME", home)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Runs castctl as admin on `d` with the given arguments.
async fn run(d: &TestDaemon, home: &Path, args: &[&str]) -> Output {
    let mut cmd = castctl(home);
    cmd.args([
        "--url",
        &d.url,
        "--user",
        "admin",
        "--password",
        ADMIN_PASSWORD,
    ])
    .args(args);
    tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("castctl finishes")
        .expect("castctl runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "castctl failed ({}):\n{}\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

#[tokio::test]
async fn status_and_devices_tables() {
    let d = TestDaemon::start().await;
    let home = tempfile::tempdir().unwrap();
    let unit = d.get("/api/1/status/unit").admin().send().await.body;

    let out = run(&d, home.path(), &["status"]).await;
    assert_ok(&out);
    let text = stdout(&out);
    assert!(text.contains(unit["unitName"].as_str().unwrap()), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("capture") && l.contains("idle")),
        "{text}"
    );
    assert!(text.contains("3 present"), "{text}");

    let out = run(&d, home.path(), &["devices"]).await;
    assert_ok(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("SIGNAL"),
        "{text}"
    );
    let devices = d.get("/api/1/status/devices").admin().send().await.body;
    let devices = devices.as_array().unwrap();
    assert_eq!(lines.len(), devices.len() + 1, "{text}");
    for device in devices {
        let id = device["id"].as_str().unwrap();
        let row = lines
            .iter()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} missing:\n{text}"));
        assert!(row.contains(device["name"].as_str().unwrap()), "{row}");
    }
}

#[tokio::test]
async fn json_is_the_api_answer_unchanged() {
    let d = TestDaemon::start().await;
    let home = tempfile::tempdir().unwrap();
    for (args, path) in [
        (&["--json", "devices"][..], "/api/1/status/devices"),
        (
            &["--json", "packages", "list"][..],
            "/api/1/capture/mediaPackages?limit=50",
        ),
        (
            &["--json", "schedule", "list", "--all"][..],
            "/api/1/scheduler/events?limit=100",
        ),
    ] {
        let out = run(&d, home.path(), args).await;
        assert_ok(&out);
        let api = d.get(path).admin().send().await;
        assert_eq!(stdout(&out).trim_end(), api.text, "{args:?}");
        let parsed: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(parsed, api.body);
    }
}

#[tokio::test]
async fn start_pause_resume_stop_drive_a_real_capture() {
    let d = TestDaemon::start().await;
    let home = tempfile::tempdir().unwrap();
    let state = async || {
        d.get("/api/1/status/capture").admin().send().await.body["state"]
            .as_str()
            .unwrap()
            .to_string()
    };

    let out = run(
        &d,
        home.path(),
        &["start", "--template", "lecture", "--title", "Physics 101"],
    )
    .await;
    assert_ok(&out);
    assert!(stdout(&out).contains("capturing"), "{}", stdout(&out));
    let status = d.get("/api/1/status/capture").admin().send().await.body;
    assert_eq!(status["state"], "capturing");
    assert_eq!(status["title"], "Physics 101");
    assert_eq!(status["templateID"], "lecture");

    // A second start is the API's conflict, shown with its code.
    let out = run(
        &d,
        home.path(),
        &["start", "--template", "lecture", "--title", "again"],
    )
    .await;
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("capture.already_running"),
        "{}",
        stderr(&out)
    );

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let out = run(&d, home.path(), &["pause"]).await;
    assert_ok(&out);
    assert_eq!(state().await, "paused");
    let out = run(&d, home.path(), &["resume"]).await;
    assert_ok(&out);
    assert_eq!(state().await, "capturing");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let out = run(&d, home.path(), &["stop"]).await;
    assert_ok(&out);
    assert!(matches!(state().await.as_str(), "processing" | "idle"));

    // The package shows up in the list once finalised.
    let mut listed = String::new();
    for _ in 0..100 {
        listed = stdout(&run(&d, home.path(), &["packages", "list"]).await);
        if listed.contains("complete") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let row = listed
        .lines()
        .find(|l| l.contains("Physics 101"))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(row.contains("complete"), "{listed}");

    let out = run(&d, home.path(), &["stop"]).await;
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("capture.idle"), "{}", stderr(&out));
}

#[tokio::test]
async fn publish_follows_the_job_to_the_end() {
    let d = TestDaemon::start().await;
    let home = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    let request = r#"{"templateID":"lecture","title":"To publish","publishing":false}"#;
    let started = d
        .post("/api/1/capture/start")
        .admin()
        .form(&[("captureRequest", request)])
        .send()
        .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let package = started.body["mediaPackageID"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    d.post("/api/1/capture/stop").admin().send().await;
    for _ in 0..150 {
        let state = d
            .get(&format!("/api/1/capture/mediaPackages/{package}"))
            .admin()
            .send()
            .await;
        if state.body["state"] == "complete" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let config = serde_json::json!({"path": target.path()}).to_string();
    let reply = d
        .post("/api/1/capture/publishing/configurations/local")
        .admin()
        .form(&[("config", &config)])
        .send()
        .await;
    assert!(reply.status.is_success(), "{}", reply.text);

    let out = run(
        &d,
        home.path(),
        &["publish", &package, "--publisher", "local"],
    )
    .await;
    assert_ok(&out);
    let text = stdout(&out);
    let row = text
        .lines()
        .find(|l| l.starts_with("local"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains("done"), "{text}");
    let copied = target.path().join(&package).join("manifest.json");
    assert!(copied.exists(), "{} missing", copied.display());

    // A publisher that is not configured: the API refuses, castctl says why.
    let out = run(&d, home.path(), &["publish", &package, "--publisher", "s3"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("publish."), "{}", stderr(&out));
}

#[tokio::test]
async fn a_wrong_password_exits_with_the_api_error_code() {
    let d = TestDaemon::start().await;
    let home = tempfile::tempdir().unwrap();
    let expected = d
        .get("/api/1/status")
        .auth("admin", "not-the-password")
        .send()
        .await;
    assert_eq!(expected.status, 401);

    let mut cmd = castctl(home.path());
    cmd.args(["--url", &d.url, "--password", "not-the-password", "status"]);
    let out = cmd.output().await.unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains(expected.code()), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());

    // With --json the error object comes out unchanged as well.
    let mut cmd = castctl(home.path());
    cmd.args([
        "--url",
        &d.url,
        "--password",
        "not-the-password",
        "--json",
        "status",
    ]);
    let out = cmd.output().await.unwrap();
    assert_eq!(out.status.code(), Some(4));
    let body: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(body["code"], expected.code());
}

#[tokio::test]
async fn usage_and_connection_errors_have_their_own_exit_codes() {
    let home = tempfile::tempdir().unwrap();
    let out = castctl(home.path())
        .arg("no-such-command")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = castctl(home.path())
        .args([
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "--password",
            "x",
            "status",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot reach castd"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn credentials_from_the_environment() {
    let d = TestDaemon::start().await;
    let home = tempfile::tempdir().unwrap();
    let out = castctl(home.path())
        .env("CASTD_URL", &d.url)
        .env("CASTD_USER", "admin")
        .env("CASTD_PASSWORD", ADMIN_PASSWORD)
        .arg("devices")
        .output()
        .await
        .unwrap();
    assert_ok(&out);
    assert!(stdout(&out).contains("test:camera"), "{}", stdout(&out));

    // A flag wins over the environment.
    let out = castctl(home.path())
        .env("CASTD_URL", &d.url)
        .env("CASTD_PASSWORD", ADMIN_PASSWORD)
        .args(["--password", "not-the-password", "devices"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
}

#[tokio::test]
async fn credentials_from_a_private_config_file_and_a_readable_one_refused() {
    let d = TestDaemon::start().await;
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join(".config/castd");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("castctl.toml");
    std::fs::write(
        &file,
        format!(
            "url = \"{}\"\nuser = \"admin\"\npassword = \"{ADMIN_PASSWORD}\"\n",
            d.url
        ),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = castctl(home.path()).arg("devices").output().await.unwrap();
    assert_ok(&out);
    assert!(stdout(&out).contains("test:camera"), "{}", stdout(&out));

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = castctl(home.path()).arg("devices").output().await.unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let message = stderr(&out);
    assert!(
        message.contains("0644") && message.contains("chmod 600"),
        "{message}"
    );
    assert!(stdout(&out).is_empty());
}

#[tokio::test]
async fn events_prints_one_line_per_event() {
    let d = TestDaemon::start().await;
    let home = tempfile::tempdir().unwrap();
    let mut cmd = castctl(home.path());
    cmd.args(["--url", &d.url, "--password", ADMIN_PASSWORD, "logs"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // The stream is open once the daemon counts a subscriber; give it a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = d
        .post("/api/1/capture/start")
        .admin()
        .form(&[(
            "captureRequest",
            r#"{"templateID":"lecture","title":"Events"}"#,
        )])
        .send()
        .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let session = started.body["sessionID"].as_str().unwrap().to_string();
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("captureState") && line.contains("state=capturing") {
                return line;
            }
        }
        panic!("the event stream ended");
    })
    .await
    .expect("a captureState line within 30 s");
    assert!(found.contains(&format!("sessionID={session}")), "{found}");
    assert!(!found.contains("nodeStats"), "{found}");
    child.kill().await.unwrap();
    d.post("/api/1/capture/stop").admin().send().await;
}

#[tokio::test]
async fn backup_downloads_the_archive() {
    let d = TestDaemon::start().await;
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("unit.tar");
    let out = run(&d, home.path(), &["backup", "-o", file.to_str().unwrap()]).await;
    assert_ok(&out);
    let mut archive = tar::Archive::new(std::fs::File::open(&file).unwrap());
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.contains(&"manifest.json".to_string()), "{names:?}");
    assert!(names.contains(&"castd.db".to_string()), "{names:?}");
    assert!(!home.path().join("unit.tar.part").exists());
}

#[tokio::test]
async fn reboot_refuses_while_capturing_unless_forced() {
    // The test configuration's reboot command only notes that it ran.
    let d = TestDaemon::start().await;
    let home = tempfile::tempdir().unwrap();
    let started = d
        .post("/api/1/capture/start")
        .admin()
        .form(&[(
            "captureRequest",
            r#"{"templateID":"lecture","title":"Reboot"}"#,
        )])
        .send()
        .await;
    assert_eq!(started.status, 201, "{}", started.text);

    let out = run(&d, home.path(), &["reboot"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("maintenance.capturing"),
        "{}",
        stderr(&out)
    );

    let out = run(&d, home.path(), &["reboot", "--force"]).await;
    assert_ok(&out);
    let text = stdout(&out);
    assert!(text.contains("reboots"), "{text}");
    assert!(
        text.contains(started.body["sessionID"].as_str().unwrap()),
        "{text}"
    );
}

#[tokio::test]
async fn opencast_shows_the_link_and_its_failures() {
    let d = TestDaemon::start().await;
    let home = tempfile::tempdir().unwrap();
    let off = run(&d, home.path(), &["opencast", "status"]).await;
    assert_ok(&off);
    assert_eq!(stdout(&off), "Opencast agent mode is off\n");

    // Pointed at a port nothing listens on: the test fails with Opencast's code, and the
    // agent notes the same failure.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let config = serde_json::json!({"enabled": true, "url": url, "username": "agent",
        "password": "agent-pw", "agentName": "room-101"});
    let saved = d
        .admin_post(
            "/api/1/opencast/config",
            &[("config", config.to_string().as_str())],
        )
        .await;
    assert_eq!(saved.status.as_u16(), 200, "{}", saved.text);
    let test = run(&d, home.path(), &["opencast", "test"]).await;
    assert_eq!(test.status.code(), Some(4), "{}", stderr(&test));
    assert!(
        stderr(&test).contains("opencast.failed"),
        "{}",
        stderr(&test)
    );
    let sync = run(&d, home.path(), &["opencast", "sync"]).await;
    assert_ok(&sync);
    assert!(
        stdout(&sync).starts_with("asked the agent to sync now\n"),
        "{}",
        stdout(&sync)
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status = run(&d, home.path(), &["opencast", "status"]).await;
        assert_ok(&status);
        let text = stdout(&status);
        assert!(text.contains("room-101"), "{text}");
        if text.contains("opencast.unreachable") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let json = run(&d, home.path(), &["--json", "opencast", "status"]).await;
    let answer: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        answer["lastError"]["code"], "opencast.unreachable",
        "{answer}"
    );
    assert_eq!(answer["enabled"], true);
}
