//! Throttling of failed logins and the credential cache, seen from clients on several
//! loopback addresses.

use std::net::IpAddr;

use reqwest::StatusCode;

use crate::common::{ADMIN_PASSWORD, Options, TestDaemon};

fn client_from(ip: &str) -> reqwest::Client {
    castd::http_client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn status_as(
    client: &reqwest::Client,
    d: &TestDaemon,
    user: &str,
    password: &str,
) -> (StatusCode, Option<String>) {
    let r = client
        .get(format!("{}/api/1/status/capture", d.url))
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (r.status(), retry)
}

#[tokio::test]
async fn an_address_with_too_many_failures_gets_429_with_retry_after() {
    let d = TestDaemon::start_with(Options {
        config_toml: "[auth]\nmax_failures_per_address = 3\nmax_failures_per_user = 1000\nbase_lockout_secs = 30\n[capture]\nkeep_inputs_hot = false\n".into(),
        ..Options::default()
    })
    .await;
    let attacker = client_from("127.0.0.2");
    for _ in 0..3 {
        assert_eq!(
            status_as(&attacker, &d, "admin", "guess").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, retry) = status_as(&attacker, &d, "admin", ADMIN_PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    let body: serde_json::Value = attacker
        .get(format!("{}/api/1/status", d.url))
        .basic_auth("admin", Some("guess"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["code"], "auth.throttled");

    // Another address is not affected.
    let other = client_from("127.0.0.3");
    assert_eq!(
        status_as(&other, &d, "admin", ADMIN_PASSWORD).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_user_attacked_from_many_addresses_is_locked_except_where_it_logged_in_before() {
    let d = TestDaemon::start_with(Options {
        config_toml: "[auth]\nmax_failures_per_address = 1000\nmax_failures_per_user = 4\n[capture]\nkeep_inputs_hot = false\n".into(),
        ..Options::default()
    })
    .await;
    d.create_user("panel", "Presenter", "panel-password").await;
    let panel = client_from("127.0.0.20");
    assert_eq!(
        status_as(&panel, &d, "panel", "panel-password").await.0,
        StatusCode::OK
    );

    for i in 0..4 {
        let attacker = client_from(&format!("127.0.1.{}", i + 1));
        assert_eq!(
            status_as(&attacker, &d, "panel", "guess").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let stranger = client_from("127.0.2.1");
    assert_eq!(
        status_as(&stranger, &d, "panel", "panel-password").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The room panel keeps working from its own address, and other users are unaffected.
    assert_eq!(
        status_as(&panel, &d, "panel", "panel-password").await.0,
        StatusCode::OK
    );
    assert_eq!(
        status_as(&stranger, &d, "admin", ADMIN_PASSWORD).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn malformed_authorization_headers_are_401_not_500() {
    let d = TestDaemon::start().await;
    for header in [
        "Basic",
        "Basic !!!!",
        "Bearer abc",
        "Basic YWRtaW4=",
        "basic",
    ] {
        let reply = d
            .get("/api/1/status")
            .header("authorization", header)
            .send()
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{header}");
        assert_eq!(reply.code(), "auth.invalid_credentials", "{header}");
    }
}
