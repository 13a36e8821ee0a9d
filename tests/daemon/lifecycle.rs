//! The daemon's life: the stdout contract, first start, restart, one daemon per data dir,
//! clean shutdown on signals.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use reqwest::StatusCode;

use crate::common::{self, Options, TestDaemon};

#[tokio::test]
async fn first_start_without_a_configured_password_writes_a_private_random_one() {
    let d = TestDaemon::start_with(Options {
        admin_password: None,
        ..Options::default()
    })
    .await;
    assert!(d.url.starts_with("http://127.0.0.1:"), "{}", d.url);
    let file = d.data_dir.join("initial-admin-password");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let password = std::fs::read_to_string(&file).unwrap().trim().to_string();
    assert!(password.len() >= 16);
    assert_eq!(
        d.get("/api/1/users/current")
            .auth("admin", &password)
            .send()
            .await
            .status,
        StatusCode::OK
    );
    for weak in ["admin", "password", "castd", ""] {
        assert_eq!(
            d.get("/api/1/users/current")
                .auth("admin", weak)
                .send()
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert!(
        d.stderr().contains(&password),
        "the password is announced once in the log"
    );
}

#[tokio::test]
async fn restart_keeps_users_and_settings_and_sigterm_exits_0_quickly() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let mut d = TestDaemon::start_in(&dir, &Options::default());
    d.create_user("keeper", "Scheduler", "keeper-password")
        .await;
    d.post("/api/1/settings/unitName")
        .admin()
        .form(&[("value", "Persistent Hall")])
        .send()
        .await;

    let started = Instant::now();
    let status = d
        .stop_within(Duration::from_secs(5))
        .expect("exits within 5 s of SIGTERM");
    assert!(status.success(), "{status}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // A configured password on a second start must not reset the admin.
    let again = TestDaemon::start_in(
        &dir,
        &Options {
            admin_password: Some("another-password".into()),
            ..Options::default()
        },
    );
    assert_eq!(
        again
            .get("/api/1/users/current")
            .auth("keeper", "keeper-password")
            .send()
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        again.get("/api/1/status/unit").admin().send().await.body["unitName"],
        "Persistent Hall"
    );
    assert_eq!(
        again
            .get("/api/1/users/current")
            .auth("admin", "another-password")
            .send()
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_second_daemon_on_the_same_data_dir_refuses_to_start() {
    let first = TestDaemon::start().await;
    let (status, stderr) = common::spawn(&first.data_dir, &Options::default())
        .map(|_| ())
        .expect_err("the second daemon must not serve");
    assert!(!status.success());
    assert!(stderr.contains("already using"), "{stderr}");
    assert!(
        stderr.contains(&format!("pid {}", first.child().id())),
        "{stderr}"
    );
    // The first one is unharmed.
    assert_eq!(
        first
            .get("/api/1/status/capture")
            .admin()
            .send()
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn sigint_exits_0_even_with_a_client_holding_a_connection_open() {
    let temp = tempfile::tempdir().unwrap();
    let (mut child, url) = common::spawn(&temp.path().join("data"), &Options::default()).unwrap();
    // A client that sent half a request and went quiet.
    let addr = url.trim_start_matches("http://");
    let mut stalled = std::net::TcpStream::connect(addr).unwrap();
    stalled
        .write_all(b"GET /api/1/health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    common::signal(&child, Signal::SIGINT);
    let status =
        common::wait_with_timeout(&mut child, Duration::from_secs(5)).expect("exits within 5 s");
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn invalid_configuration_is_refused_with_a_clear_message() {
    let temp = tempfile::tempdir().unwrap();
    let (status, stderr) = common::spawn(
        &temp.path().join("data"),
        &Options {
            admin_password: Some("short".into()),
            ..Options::default()
        },
    )
    .map(|_| ())
    .expect_err("a too-short initial password is refused");
    assert!(!status.success());
    assert!(stderr.contains("at least 8 characters"), "{stderr}");

    let (_, stderr) = common::spawn(
        &temp.path().join("data2"),
        &Options {
            config_toml: "[auth]\nmax_failures_per_adress = 3\n".into(),
            ..Options::default()
        },
    )
    .map(|_| ())
    .expect_err("a misspelt config key is refused");
    assert!(stderr.contains("max_failures_per_adress"), "{stderr}");
}
