//! The `status` group over HTTP.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestDaemon;

#[tokio::test]
async fn unit_info_names_the_unit_and_the_machine() {
    let d = TestDaemon::start().await;
    let unit = d.get("/api/1/status/unit").admin().send().await.body;
    let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
    assert_eq!(unit["machineName"], json!(host));
    assert_eq!(
        unit["unitName"],
        json!(host),
        "unitName defaults to the host name"
    );
    assert_eq!(unit["version"], json!(env!("CARGO_PKG_VERSION")));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!((unit["time"].as_i64().unwrap() - now).abs() < 5000);
    assert!(unit["uptime"].as_i64().unwrap() >= 0);
    assert!(unit["clockSynchronized"].is_boolean());

    d.post("/api/1/settings/unitName")
        .admin()
        .form(&[("value", "Lecture Hall 3")])
        .send()
        .await;
    let unit = d.get("/api/1/status/unit").admin().send().await.body;
    assert_eq!(unit["unitName"], "Lecture Hall 3");
}

#[tokio::test]
async fn disk_space_follows_the_reserve_setting() {
    let d = TestDaemon::start().await;
    let disk = d.get("/api/1/status/diskSpace").admin().send().await.body;
    let (free, usable, total) = (
        disk["free"].as_u64().unwrap(),
        disk["usable"].as_u64().unwrap(),
        disk["total"].as_u64().unwrap(),
    );
    assert!(total > 0 && usable <= free && free <= total, "{disk}");

    // Raising the reserve by 100 GiB takes it off `usable` (down to zero).
    d.post("/api/1/settings/diskReserveMb")
        .admin()
        .form(&[("value", "104448")])
        .send()
        .await;
    let after = d.get("/api/1/status/diskSpace").admin().send().await.body;
    let expected = (usable + 2048 * 1024 * 1024).saturating_sub(104_448 * 1024 * 1024);
    let got = after["usable"].as_u64().unwrap();
    assert!(
        got.abs_diff(expected) < 64 * 1024 * 1024,
        "usable {got}, expected about {expected}"
    );
    let minutes = after["minutesLeft"].as_u64().unwrap();
    assert_eq!(minutes, got * 8 / after["bitrate"].as_u64().unwrap() / 60);
}

#[tokio::test]
async fn network_lists_loopback_and_the_summary_has_every_part() {
    let d = TestDaemon::start().await;
    let net = d.get("/api/1/status/network").admin().send().await.body;
    let lo = net["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "lo")
        .expect("lo listed")
        .clone();
    assert!(
        lo["addresses"]
            .as_array()
            .unwrap()
            .contains(&json!("127.0.0.1/8"))
    );
    assert_eq!(lo["up"], json!(true));
    assert!(net["dnsReachable"].is_boolean());

    let status = d.get("/api/1/status").admin().send().await.body;
    assert_eq!(status["capture"], json!({"state": "idle"}));
    assert!(status["unit"]["machineName"].is_string());
    assert!(status["diskSpace"]["total"].as_u64().unwrap() > 0);
    assert!(status["alarms"].is_array());
}

#[tokio::test]
async fn public_status_opens_only_the_status_routes() {
    let d = TestDaemon::start().await;
    assert_eq!(
        d.get("/api/1/status/capture").send().await.status,
        StatusCode::UNAUTHORIZED
    );
    d.post("/api/1/settings/publicStatus")
        .admin()
        .form(&[("value", "true")])
        .send()
        .await;
    assert_eq!(
        d.get("/api/1/status/capture").send().await.status,
        StatusCode::OK
    );
    assert_eq!(d.get("/api/1/status").send().await.status, StatusCode::OK);
    assert_eq!(
        d.get("/api/1/settings").send().await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        d.get("/api/1/users/current").send().await.status,
        StatusCode::UNAUTHORIZED
    );
}
