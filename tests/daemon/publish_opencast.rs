//! Publishing to Opencast: connection tests and services against the protocol peer, and
//! recorded packages ingested with their metadata and every output as a track, checked
//! byte for byte on the peer's side, also when the server fails uploads on the way.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::capture::{action, finished_package, main_file, small_template, start};
use crate::common::TestDaemon;
use crate::peers::opencast::{PASSWORD, Peer, USERNAME};
use crate::publishing::{self, file_md5, md5_hex};

const TITLE: &str = "Fish & Chips <1> \"Q&A\"";
const TAGS: [&str; 2] = ["maths", "week <1>"];
const SPEAKER: &str = "Ada Lovelace";

fn config(peer: &Peer) -> Value {
    json!({"url": peer.url, "username": USERNAME, "password": PASSWORD,
           "workflowID": "fast", "workflowConfig": {"straightToPublishing": true, "flagForReview": "false"}})
}

async fn configure(d: &TestDaemon, peer: &Peer) {
    let saved = publishing::configure(d, "opencast", config(peer)).await;
    assert!(
        !saved.to_string().contains(PASSWORD),
        "the password is masked: {saved}"
    );
}

async fn test_config(d: &TestDaemon, config: Value) -> Value {
    publishing::test_config(d, "opencast", config).await
}

/// A recorded package (~3 s, not published by itself) with a second video output, so
/// that it has a presenter and a presentation track.
async fn recorded_package(d: &TestDaemon) -> Value {
    small_template(d).await;
    let request = json!({"templateID": "small", "title": TITLE, "tags": TAGS,
        "speaker": SPEAKER, "metadata": {"course": "MA101", "description": "Week 1 <intro>"},
        "publishing": false});
    let reply = start(d, request).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let id = reply.body["sessionID"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_secs(3)).await;
    action(d, "stop").await;
    let package = finished_package(d, &id).await;
    assert_eq!(package["state"], "complete", "{package}");

    // A different file than the main one, so a swapped track shows in the MD5s.
    let root = Path::new(package["root"].as_str().unwrap());
    let mut screen = std::fs::read(main_file(&package)).unwrap();
    screen.extend_from_slice(b"screen");
    std::fs::write(root.join("screen.mp4"), screen).unwrap();
    publishing::attach(d, &id, "screen", "video/mp4", "screen.mp4").await
}

async fn publish(d: &TestDaemon, package_id: &str) {
    publishing::publish_to(d, package_id, "opencast").await;
}

/// The package's Opencast job once it has ended (done, failed or cancelled).
async fn finished_job(d: &TestDaemon, package_id: &str) -> Value {
    publishing::ended_job(d, package_id, "opencast", Duration::from_secs(120), |_| {}).await
}

/// What every ingest must leave on the peer: one media package with the episode catalog,
/// the main recording as presenter, the second video as presentation and the thumbnail as
/// an attachment, byte for byte, ingested once into the configured workflow with its
/// configuration.
fn assert_ingested(peer: &Peer, package: &Value, job: &Value) {
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(peer.violations(), Vec::<String>::new());
    let ingests = peer.ingests();
    assert_eq!(ingests.len(), 1, "{ingests:?}");
    let ingest = &ingests[0];
    assert_eq!(ingest.workflow, "fast");
    assert_eq!(
        ingest.properties.iter().collect::<Vec<_>>(),
        [
            (&"flagForReview".to_string(), &"false".to_string()),
            (&"straightToPublishing".to_string(), &"true".to_string())
        ]
    );
    assert_eq!(job["remoteID"], ingest.media_package, "{job}");

    let tracks = peer.tracks();
    let flavors: Vec<(&str, &str, &str)> = tracks
        .iter()
        .map(|t| (t.flavor.as_str(), t.filename.as_str(), t.mime.as_str()))
        .collect();
    assert_eq!(
        flavors,
        [
            ("presenter/source", "recording.mp4", "video/mp4"),
            ("presentation/source", "screen.mp4", "video/mp4")
        ]
    );
    assert!(
        tracks
            .iter()
            .all(|t| t.media_package == ingest.media_package)
    );
    assert_ne!(tracks[0].id, tracks[1].id);
    let root = Path::new(package["root"].as_str().unwrap());
    assert_eq!(md5_hex(&tracks[0].bytes), file_md5(&main_file(package)));
    assert_eq!(
        md5_hex(&tracks[1].bytes),
        file_md5(&root.join("screen.mp4"))
    );
    // Outputs that are not audio or video (the thumbnail) go in as attachments.
    let attachments = peer.attachments();
    let expected: Vec<(String, String)> = package["outputs"]
        .as_object()
        .unwrap()
        .values()
        .filter(|o| !o["type"].as_str().unwrap().starts_with("video/"))
        .map(|o| {
            let entry = o["entry"].as_str().unwrap();
            (
                format!("{entry}/source"),
                o["file"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        expected.iter().any(|(_, file)| file == "thumbnail.jpg"),
        "{package}"
    );
    let sent: Vec<(String, String)> = attachments
        .iter()
        .map(|a| (a.flavor.clone(), a.filename.clone()))
        .collect();
    assert_eq!(sent, expected);
    for attachment in &attachments {
        assert_eq!(attachment.media_package, ingest.media_package);
        let local = root.join(&attachment.filename);
        assert_eq!(md5_hex(&attachment.bytes), file_md5(&local), "{local:?}");
    }
    let total: u64 = tracks
        .iter()
        .chain(&attachments)
        .map(|t| t.bytes.len() as u64)
        .sum();
    assert_eq!(job["progress"]["total"].as_u64(), Some(total), "{job}");
    assert_eq!(job["progress"]["done"].as_u64(), Some(total), "{job}");

    let catalogs = peer.catalogs();
    assert_eq!(catalogs.len(), 1);
    let terms = &catalogs[0].terms;
    assert_eq!(catalogs[0].media_package, ingest.media_package);
    assert_eq!(terms["title"], [TITLE]);
    assert!(
        catalogs[0].text.contains("Fish &amp; Chips &lt;1&gt;"),
        "{}",
        catalogs[0].text
    );
    assert_eq!(terms["subject"], TAGS);
    assert_eq!(terms["creator"], [SPEAKER]);
    assert_eq!(terms["description"], ["Week 1 <intro>"]);
    assert!(!terms.contains_key("course"), "{terms:?}");
    // The recorded length, as ISO 8601 (about 3 s).
    let extent = &terms["extent"][0];
    let seconds: f64 = extent
        .strip_prefix("PT")
        .and_then(|s| s.strip_suffix('S'))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("extent {extent:?}"));
    let duration = package["duration"].as_f64().unwrap() / 1000.0;
    assert!((seconds - duration).abs() < 0.002, "{extent} vs {duration}");
    assert_eq!(peer.created(), 1, "one media package");
}

#[tokio::test]
async fn opencast_test_checks_credentials_and_workflow_and_lists_workflows() {
    let peer = Peer::start().await;
    let d = TestDaemon::start().await;
    configure(&d, &peer).await;

    let good = test_config(&d, json!({})).await;
    assert_eq!(good["ok"], true, "{good}");
    assert_eq!(good["publisherID"], "opencast");
    assert!(
        good["message"].as_str().unwrap().contains(USERNAME),
        "{good}"
    );

    let failures = peer.auth_failures();
    let wrong = test_config(&d, json!({"password": "not-the-password"})).await;
    assert_eq!(
        (&wrong["ok"], &wrong["code"]),
        (&json!(false), &json!("publish.auth_failed")),
        "{wrong}"
    );
    assert!(!wrong.to_string().contains("not-the-password"), "{wrong}");
    assert_eq!(peer.auth_failures(), failures + 1);

    let missing = test_config(&d, json!({"workflowID": "no-such-workflow"})).await;
    assert_eq!(
        (&missing["ok"], &missing["code"]),
        (&json!(false), &json!("publish.invalid_config")),
        "{missing}"
    );
    assert!(
        missing["message"]
            .as_str()
            .unwrap()
            .contains("no-such-workflow"),
        "{missing}"
    );

    let unreachable = test_config(&d, json!({"url": "http://127.0.0.1:9"})).await;
    assert_eq!(
        (&unreachable["ok"], &unreachable["code"]),
        (&json!(false), &json!("publish.unreachable")),
        "{unreachable}"
    );

    let reply = d
        .post("/api/1/plugins/opencast/services/listWorkflows")
        .admin()
        .form(&[("args", "{}")])
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let ids: Vec<&str> = reply
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["fast", "schedule-and-upload"]);
    assert_eq!(reply.body[0]["title"], "Fast Testing Workflow");

    assert_eq!(peer.violations(), Vec::<String>::new());
    assert!(peer.ingests().is_empty() && peer.created() == 0);
}

#[tokio::test]
async fn a_recording_is_ingested_with_its_metadata_and_every_output() {
    let peer = Peer::start().await;
    let d = TestDaemon::start().await;
    configure(&d, &peer).await;
    let package = recorded_package(&d).await;
    let id = package["id"].as_str().unwrap();
    publish(&d, id).await;
    let job = finished_job(&d, id).await;
    assert_ingested(&peer, &package, &job);
    assert_eq!(job["attempts"], 1, "{job}");

    // Asking again does not ingest again.
    publish(&d, id).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(finished_job(&d, id).await["state"], "done");
    assert_eq!(peer.ingests().len(), 1);
    assert_eq!(peer.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn failed_uploads_are_retried_and_the_package_is_ingested_once() {
    let peer = Peer::start().await;
    let d = TestDaemon::start().await;
    configure(&d, &peer).await;
    let package = recorded_package(&d).await;
    let id = package["id"].as_str().unwrap();
    peer.fail_next_tracks(2);
    publish(&d, id).await;
    let job = finished_job(&d, id).await;
    assert_eq!(peer.failed_tracks(), 2);
    // Each retry goes on from the checkpoint: the same media package and catalog, the
    // tracks Opencast confirmed are not sent again.
    assert_ingested(&peer, &package, &job);
    assert_eq!(job["attempts"], 3, "{job}");
}
