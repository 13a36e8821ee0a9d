//! `GET /metrics`: what a Prometheus server scrapes.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::capture::{action, finished_package, small_template, start};
use crate::common::TestDaemon;

/// Samples of one scrape: `name{labels}` → value.
struct Scrape {
    text: String,
    samples: BTreeMap<String, f64>,
}

impl Scrape {
    fn value(&self, sample: &str) -> f64 {
        self.samples.get(sample).copied().unwrap_or(0.0)
    }

    fn has_family(&self, name: &str, kind: &str) -> bool {
        self.text.contains(&format!("# TYPE {name} {kind}\n"))
    }
}

async fn scrape(d: &TestDaemon) -> Scrape {
    let reply = d.get("/api/1/metrics").admin().send().await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let content_type = reply.headers["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let samples = reply
        .text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name.to_string(), value.parse::<f64>().unwrap())
        })
        .collect();
    Scrape {
        text: reply.text,
        samples,
    }
}

#[tokio::test]
async fn a_scrape_shows_state_disk_queue_requests_and_failed_logins() {
    let d = TestDaemon::start().await;
    let before = scrape(&d).await;
    // Families without samples (per-session figures while idle) are left out.
    for (family, kind) in [
        ("castd_capture_state", "gauge"),
        ("castd_disk_free_bytes", "gauge"),
        ("castd_disk_usable_bytes", "gauge"),
        ("castd_disk_total_bytes", "gauge"),
        ("castd_publish_jobs", "gauge"),
        ("castd_uptime_seconds", "gauge"),
        ("castd_build_info", "gauge"),
    ] {
        assert!(
            before.has_family(family, kind),
            "{family}:\n{}",
            before.text
        );
    }
    assert_eq!(before.value(r#"castd_capture_state{state="idle"}"#), 1.0);
    assert_eq!(
        before.value(r#"castd_capture_state{state="capturing"}"#),
        0.0
    );
    assert!(before.value("castd_disk_free_bytes") > 0.0);
    assert!(before.value("castd_uptime_seconds") > 0.0);
    assert!(
        before
            .samples
            .contains_key(r#"castd_publish_jobs{state="queued"}"#),
        "{}",
        before.text
    );

    // A path no route has, an unknown id on a known route, and a wrong password.
    let missing = d.get("/api/1/no/such/route").admin().send().await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let unknown = d
        .get("/api/1/capture/mediaPackages/no-such-package")
        .admin()
        .send()
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let wrong = d
        .get("/api/1/status")
        .auth("admin", "not-the-password")
        .send()
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    let after = scrape(&d).await;
    assert!(after.has_family("castd_http_requests", "counter"));
    assert!(after.has_family("castd_auth_failures", "counter"));
    let delta = |sample: &str| after.value(sample) - before.value(sample);
    assert_eq!(
        delta(r#"castd_http_requests_total{route="unmatched",status="404"}"#),
        1.0,
        "{}",
        after.text
    );
    assert_eq!(
        delta(r#"castd_http_requests_total{route="/capture/mediaPackages/{id}",status="404"}"#),
        1.0,
        "{}",
        after.text
    );
    assert_eq!(
        delta(r#"castd_http_requests_total{route="/status",status="401"}"#),
        1.0
    );
    assert_eq!(
        delta(r#"castd_auth_failures_total{reason="invalid_credentials"}"#),
        1.0,
        "{}",
        after.text
    );
    // The first scrape itself was counted.
    assert!(after.value(r#"castd_http_requests_total{route="/metrics",status="200"}"#) >= 1.0);

    let anonymous = d.get("/api/1/metrics").send().await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_running_capture_shows_in_the_state_and_node_figures() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let reply = start(&d, json!({"templateID": "small"})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let session = reply.body["sessionID"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let during = scrape(&d).await;
    for (family, kind) in [
        ("castd_capture_recorded_seconds", "gauge"),
        ("castd_node_buffers", "counter"),
        ("castd_node_dropped_frames", "counter"),
        ("castd_node_fps", "gauge"),
    ] {
        assert!(
            during.has_family(family, kind),
            "{family}:\n{}",
            during.text
        );
    }
    assert_eq!(
        during.value(r#"castd_capture_state{state="capturing"}"#),
        1.0
    );
    assert_eq!(during.value(r#"castd_capture_state{state="idle"}"#), 0.0);
    let recorded = during.value(&format!(
        r#"castd_capture_recorded_seconds{{session="{session}"}}"#
    ));
    assert!(recorded > 0.5, "{}", during.text);
    let buffers = during.value(&format!(
        r#"castd_node_buffers_total{{session="{session}",node="camera"}}"#
    ));
    assert!(buffers > 10.0, "{}", during.text);
    assert!(
        during.samples.contains_key(&format!(
            r#"castd_node_dropped_frames_total{{session="{session}",node="camera"}}"#
        )),
        "{}",
        during.text
    );

    assert_eq!(action(&d, "stop").await.status, StatusCode::OK);
    finished_package(&d, &session).await;
    let mut after = scrape(&d).await;
    for _ in 0..50 {
        if after.value(r#"castd_capture_state{state="idle"}"#) == 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = scrape(&d).await;
    }
    assert_eq!(after.value(r#"castd_capture_state{state="idle"}"#), 1.0);
    assert!(
        !after.text.contains(&session),
        "figures of a finished session stay:\n{}",
        after.text
    );
}
