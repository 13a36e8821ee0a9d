//! Publishing to Flow Capture: configuration, connection tests and services against the
//! protocol peer, and recorded packages uploaded in parts, retried and resumed after a
//! crash, checked byte for byte on the peer's side.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::capture::{action, finished_package, main_file, small_template, start};
use crate::common::{self, Options, TestDaemon};
use crate::peers::flowcapture::{API_KEY, EMAIL, PROJECT_ID, Peer};
use crate::publishing::{self, file_md5, md5_hex, noise};

const BATCH: &str = "MA101 lectures";
/// Two full 8 MiB parts and a short last one.
const EXTRA_SIZE: usize = 2 * 8 * 1024 * 1024 + 123_457;

fn config(peer: &Peer) -> Value {
    json!({"baseUrl": peer.base_url, "email": EMAIL, "apiKey": API_KEY,
           "projectID": PROJECT_ID.to_string(), "batchName": BATCH})
}

async fn configure(d: &TestDaemon, peer: &Peer) {
    let saved = publishing::configure(d, "flowcapture", config(peer)).await;
    assert!(
        !saved.to_string().contains(API_KEY),
        "the key is masked: {saved}"
    );
}

async fn test_config(d: &TestDaemon, config: Value) -> Value {
    publishing::test_config(d, "flowcapture", config).await
}

async fn service(d: &TestDaemon, name: &str, args: Value) -> Value {
    publishing::service(d, "flowcapture", name, args).await
}

/// A recorded package (~3 s, two markers, not published by itself) with an extra output
/// large enough for three parts. Returns the package and the markers' times.
async fn recorded_package(d: &TestDaemon) -> (Value, Vec<i64>) {
    small_template(d).await;
    let request = json!({"templateID": "small", "title": "Linear algebra 1",
        "tags": ["maths", "week-1"], "speaker": "Ada Lovelace",
        "metadata": {"course": "MA101"}, "publishing": false});
    let reply = start(d, request).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let id = reply.body["sessionID"].as_str().unwrap().to_string();
    let mut times = Vec::new();
    for (title, description) in [("Question", "from the back row"), ("Summary", "")] {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let marker = d
            .post("/api/1/capture/marker")
            .admin()
            .form(&[("title", title), ("description", description)])
            .send()
            .await;
        assert_eq!(marker.status, StatusCode::CREATED, "{}", marker.text);
        times.push(marker.body["time"].as_i64().unwrap());
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    action(d, "stop").await;
    let package = finished_package(d, &id).await;
    assert_eq!(package["state"], "complete", "{package}");

    let root = Path::new(package["root"].as_str().unwrap());
    std::fs::write(root.join("extra.bin"), noise(EXTRA_SIZE)).unwrap();
    let attached =
        publishing::attach(d, &id, "extra", "application/octet-stream", "extra.bin").await;
    (attached, times)
}

async fn publish(d: &TestDaemon, package_id: &str) {
    publishing::publish_to(d, package_id, "flowcapture").await;
}

/// The package's Flow Capture job once it has ended (done, failed or cancelled); fails at
/// once when the peer saw a request the service would refuse (the job would only retry).
async fn finished_job(d: &TestDaemon, peer: &Peer, package_id: &str) -> Value {
    let no_violations =
        |jobs: &[Value]| assert_eq!(peer.violations(), Vec::<String>::new(), "{jobs:?}");
    publishing::ended_job(
        d,
        package_id,
        "flowcapture",
        Duration::from_secs(180),
        no_violations,
    )
    .await
}

/// What every publication must leave on the peer: one asset per package output, the main
/// recording first, each byte for byte (the extra file in three parts), each part stored
/// once, in the configured folder and batch, ingested.
fn assert_delivered(peer: &Peer, package: &Value, job: &Value) {
    assert_eq!(job["state"], "done", "{job}");
    let assets = peer.assets();
    let outputs = package["outputs"].as_object().unwrap();
    assert_eq!(
        assets.len(),
        outputs.len(),
        "one asset per output: {outputs:?}"
    );
    assert_eq!(
        assets[0].filename, "recording.mp4",
        "the main recording first"
    );
    assert_eq!(md5_hex(&assets[0].bytes), file_md5(&main_file(package)));
    let root = Path::new(package["root"].as_str().unwrap());
    for asset in &assets {
        let file = root.join(&asset.filename);
        assert!(
            outputs
                .values()
                .any(|o| o["file"] == asset.filename.as_str()),
            "{} is not an output",
            asset.filename
        );
        assert_eq!(md5_hex(&asset.bytes), file_md5(&file), "{}", asset.filename);
        assert!(asset.ingested, "{} was never ingested", asset.filename);
        assert_eq!(asset.project_id, PROJECT_ID.to_string());
        assert_eq!(asset.batch_name.as_deref(), Some(BATCH));
    }
    let extra = assets.iter().find(|a| a.filename == "extra.bin").unwrap();
    assert_eq!((extra.parts, extra.bytes.len()), (3, EXTRA_SIZE));
    assert_eq!(job["remoteID"], assets[0].id.to_string(), "{job}");
    let total: usize = assets.iter().map(|a| a.bytes.len()).sum();
    assert_eq!(
        job["progress"]["total"].as_u64(),
        Some(total as u64),
        "{job}"
    );
    assert_eq!(
        job["progress"]["done"].as_u64(),
        Some(total as u64),
        "{job}"
    );
    let mut parts = peer.stored_parts();
    let stored = parts.len();
    parts.sort();
    parts.dedup();
    let expected: usize = assets.iter().map(|a| a.parts).sum();
    assert_eq!(
        (stored, parts.len()),
        (expected, expected),
        "each part stored exactly once"
    );
    assert!(
        peer.max_parts_in_flight() <= 3,
        "{}",
        peer.max_parts_in_flight()
    );
    assert_eq!(peer.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_is_tested_and_lists_the_peers_folders() {
    let peer = Peer::start().await;
    let d = TestDaemon::start().await;
    configure(&d, &peer).await;

    // The stored key stands in for one left out.
    let mut without_key = config(&peer);
    without_key.as_object_mut().unwrap().remove("apiKey");
    let tested = test_config(&d, without_key).await;
    assert_eq!(
        (tested["ok"].as_bool(), &tested["code"]),
        (Some(true), &json!("publish.ok")),
        "{tested}"
    );
    assert!(
        tested["message"]
            .as_str()
            .unwrap()
            .contains("Lecture hall A"),
        "{tested}"
    );
    assert_eq!(peer.tokens_issued(), 1);

    let mut wrong_key = config(&peer);
    wrong_key["apiKey"] = json!("not-the-key");
    let tested = test_config(&d, wrong_key).await;
    assert_eq!(tested["ok"], false, "{tested}");
    assert_eq!(tested["code"], "publish.auth_failed", "{tested}");
    assert!(!tested.to_string().contains("not-the-key"), "{tested}");
    assert_eq!(peer.auth_failures(), 1);

    let mut elsewhere = config(&peer);
    elsewhere["projectID"] = json!("999");
    let tested = test_config(&d, elsewhere).await;
    assert_eq!(tested["ok"], false, "{tested}");
    assert_eq!(tested["code"], "publish.invalid_config", "{tested}");

    let groups = service(&d, "listGroups", json!({})).await;
    assert_eq!(groups.as_array().map(Vec::len), Some(2), "{groups}");
    let all = service(&d, "listProjects", json!({})).await;
    assert_eq!(all.as_array().map(Vec::len), Some(3), "{all}");
    let term = service(&d, "listProjects", json!({"groupID": 7})).await;
    let names: Vec<&str> = term
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Lecture hall A", "Lecture hall B"]);
    let unknown = d
        .post("/api/1/plugins/flowcapture/services/deleteEverything")
        .admin()
        .form(&[("args", "{}")])
        .send()
        .await;
    assert!(unknown.status.is_client_error(), "{}", unknown.text);
    assert_eq!(peer.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_goes_up_in_parts_with_its_metadata_and_markers() {
    let peer = Peer::start().await;
    let d = TestDaemon::start().await;
    let (package, marker_times) = recorded_package(&d).await;
    let id = package["id"].as_str().unwrap();
    configure(&d, &peer).await;
    publish(&d, id).await;
    let job = finished_job(&d, &peer, id).await;
    assert_delivered(&peer, &package, &job);
    assert_eq!(job["attempts"], 1, "{job}");

    let assets = peer.assets();
    let main = &assets[0];
    let extra = assets.iter().find(|a| a.filename == "extra.bin").unwrap();
    assert_eq!(main.metadata["title"], "Linear algebra 1");
    assert_eq!(main.metadata["tags"], json!(["maths", "week-1"]));
    assert_eq!(main.metadata["speaker"], "Ada Lovelace");
    assert_eq!(main.metadata["course"], "MA101");
    assert_eq!(extra.metadata["title"], "Linear algebra 1 (extra)");

    assert_eq!(main.comments.len(), 2, "{:?}", main.comments);
    assert!(assets[1..].iter().all(|a| a.comments.is_empty()));
    let expected = ["Question\nfrom the back row", "Summary"];
    for ((comment, time), text) in main.comments.iter().zip(&marker_times).zip(expected) {
        assert_eq!(comment["description"], text);
        assert_eq!(comment["has_marker"], true);
        let seconds = comment["marker_time"].as_f64().unwrap();
        assert!(
            (seconds - *time as f64 / 1000.0).abs() < 1e-6,
            "{comment} vs {time} ms"
        );
    }

    // Asking again keeps the finished job: no second asset.
    publish(&d, id).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(peer.assets().len(), assets.len());
    assert_eq!(peer.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_part_uploads_are_retried_without_a_second_asset() {
    let peer = Peer::start().await;
    let d = TestDaemon::start().await;
    let (package, _) = recorded_package(&d).await;
    let id = package["id"].as_str().unwrap();
    configure(&d, &peer).await;
    peer.fail_next_puts(2);
    publish(&d, id).await;
    let job = finished_job(&d, &peer, id).await;
    assert_eq!(peer.failed_puts(), 2, "both failures were met and retried");
    assert_delivered(&peer, &package, &job);
    assert!(job["attempts"].as_u64().unwrap() >= 1, "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_upload_resumes_from_the_confirmed_parts() {
    let peer = Peer::start().await;
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let d = TestDaemon::start_in(&data, &Options::default());
    let (package, _) = recorded_package(&d).await;
    let id = package["id"].as_str().unwrap().to_string();
    configure(&d, &peer).await;
    peer.stall_part("extra.bin", 3);
    publish(&d, &id).await;

    // Parts 1 and 2 of the extra file are stored while part 3 hangs; then the unit dies.
    let extra_parts = |peer: &Peer| {
        let parts = peer.stored_parts();
        parts.iter().filter(|(f, _)| f == "extra.bin").count()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while extra_parts(&peer) < 2 || peer.stalled_puts() == 0 {
        assert!(Instant::now() < deadline, "{:?}", peer.stored_parts());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    common::signal(d.child(), Signal::SIGKILL);
    drop(d);
    peer.release_stalls();
    let before = peer.stored_parts().len();
    assert!(peer.assets().iter().all(|a| a.filename != "extra.bin"));

    let d = TestDaemon::start_in(&data, &Options::default());
    let job = finished_job(&d, &peer, &id).await;
    assert_delivered(&peer, &package, &job);
    assert!(
        peer.stored_parts()[before..].contains(&("extra.bin".to_string(), 3)),
        "the missing part was sent after the restart: {:?}",
        peer.stored_parts()
    );
    assert!(job["attempts"].as_u64().unwrap() >= 2, "{job}");
    assert_eq!(peer.repeated_completes(), 0);
}
