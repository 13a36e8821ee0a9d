//! Backup, restore and the audit trail over HTTP: a backup restored after the data was
//! deleted brings the same answers back; foreign, corrupt and newer archives change
//! nothing; every state-changing call is on the audit trail.

use std::io::Read as _;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Options, TestDaemon};
use crate::store_now;

/// The answers a restore must bring back.
const COMPARED: &[&str] = &[
    "/api/1/users",
    "/api/1/capture/templates",
    "/api/1/settings",
    "/api/1/speakers",
    "/api/1/scheduler/events",
];

async fn answers(d: &TestDaemon) -> Vec<Value> {
    let mut all = Vec::new();
    for path in COMPARED {
        let reply = d.get(path).admin().send().await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
        all.push(reply.body);
    }
    all
}

async fn post(d: &TestDaemon, path: &str, pairs: &[(&str, &str)]) -> Value {
    let reply = d.post(path).admin().form(pairs).send().await;
    assert!(reply.status.is_success(), "{path}: {}", reply.text);
    reply.body
}

async fn delete(d: &TestDaemon, path: &str) {
    let reply = d.delete(path).admin().send().await;
    assert_eq!(
        reply.status,
        StatusCode::NO_CONTENT,
        "{path}: {}",
        reply.text
    );
}

fn client() -> reqwest::Client {
    castd::http_client::builder().build().unwrap()
}

async fn download_backup(d: &TestDaemon) -> Vec<u8> {
    let reply = client()
        .get(format!("{}/api/1/maintenance/backup", d.url))
        .basic_auth("admin", Some(crate::common::ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    assert_eq!(reply.headers()["content-type"], "application/x-tar");
    let disposition = reply.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"castd-backup-")
            && disposition.ends_with(".tar\""),
        "{disposition}"
    );
    reply.bytes().await.unwrap().to_vec()
}

/// The entries of a tar archive, by name.
fn entries(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut tar = tar::Archive::new(archive);
    tar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            (name, bytes)
        })
        .collect()
}

fn pack(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, bytes) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o600);
        tar.append_data(&mut header, name, bytes.as_slice())
            .unwrap();
    }
    tar.into_inner().unwrap()
}

/// Rewrites the database inside an archive with `change` (given a connection to it).
fn with_database(
    archive: &[u8],
    mut change: impl FnMut(&rusqlite::Connection),
    mut manifest: impl FnMut(&mut Value),
) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let mut all = entries(archive);
    for (name, bytes) in &mut all {
        if name == "castd.db" {
            let path = dir.path().join("db");
            std::fs::write(&path, &bytes).unwrap();
            let conn = rusqlite::Connection::open(&path).unwrap();
            change(&conn);
            drop(conn);
            *bytes = std::fs::read(&path).unwrap();
        } else if name == "manifest.json" {
            let mut m: Value = serde_json::from_slice(bytes).unwrap();
            manifest(&mut m);
            *bytes = serde_json::to_vec(&m).unwrap();
        }
    }
    pack(&all)
}

async fn restore(d: &TestDaemon, archive: Vec<u8>) -> crate::common::Reply {
    d.post("/api/1/maintenance/restore")
        .admin()
        .raw("application/octet-stream", archive)
        .send()
        .await
}

#[tokio::test]
async fn a_restored_backup_answers_as_before_the_wipe() {
    let mut d = TestDaemon::start().await;
    let user_id = d
        .create_user("technician", "Content manager", "tech-password")
        .await;
    crate::capture::small_template(&d).await;
    post(
        &d,
        "/api/1/settings",
        &[(
            "settings",
            r#"{"unitName":"Hall 3","previewIntervalMs":2000}"#,
        )],
    )
    .await;
    let speaker = post(
        &d,
        "/api/1/speakers",
        &[(
            "speaker",
            r#"{"name":"Ada Lovelace","email":"ada@example.edu"}"#,
        )],
    )
    .await;
    let start = store_now() + 7_200_000;
    let event = json!({"title": "Physics", "templateID": "small", "startTime": start,
        "stopTime": start + 600_000, "speaker": "Ada Lovelace"})
    .to_string();
    let event = post(&d, "/api/1/scheduler/events", &[("event", event.as_str())]).await;
    let before = answers(&d).await;

    let archive = download_backup(&d).await;
    let names: Vec<String> = entries(&archive).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["manifest.json", "castd.db"]);
    let manifest: Value = serde_json::from_slice(&entries(&archive)[0].1).unwrap();
    assert_eq!(manifest["format"], "castd-backup");
    assert_eq!(manifest["unitName"], "Hall 3");
    assert!(manifest["schemaVersion"].as_i64().unwrap() >= 7);

    // Wipe through the API.
    delete(&d, &format!("/api/1/users/{user_id}")).await;
    // The template goes once no event uses it.
    delete(
        &d,
        &format!("/api/1/scheduler/events/{}", event["id"].as_str().unwrap()),
    )
    .await;
    delete(&d, "/api/1/capture/templates/small").await;
    post(
        &d,
        "/api/1/settings",
        &[(
            "settings",
            r#"{"unitName":"Wiped","previewIntervalMs":1000}"#,
        )],
    )
    .await;
    delete(&d, &format!("/api/1/speakers/{}", speaker["id"])).await;
    assert_ne!(answers(&d).await, before);

    let reply = restore(&d, archive).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    assert_eq!(reply.body["restarting"], true);
    assert_eq!(reply.body["manifest"]["unitName"], "Hall 3");

    // castd restarts through its restart command (in tests one that only leaves a mark);
    // the service manager's part, starting it again, is played here.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !d.data_dir.join("restart-command-ran").exists() {
        assert!(
            Instant::now() < deadline,
            "castd did not restart for the restore:\n{}",
            d.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    d.stop_within(Duration::from_secs(10));
    let restarted = TestDaemon::start_in(&d.data_dir, &Options::default());
    assert_eq!(answers(&restarted).await, before);
    assert!(
        restarted
            .stderr()
            .contains("restored the database from a backup")
    );
    assert!(d.data_dir.join("castd.db.before-restore").exists());

    // The audit trail was not rolled back: the wipe and the restore are still on it.
    let audit = restarted
        .get("/api/1/maintenance/audit?limit=1000")
        .admin()
        .send()
        .await
        .body;
    let routes: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["route"].as_str().unwrap_or_default())
        .collect();
    assert!(routes.contains(&"/api/1/maintenance/restore"), "{routes:?}");
    assert!(routes.contains(&"/api/1/speakers/{id}"), "{routes:?}");
}

#[tokio::test]
async fn foreign_corrupt_newer_and_untimely_archives_change_nothing() {
    let d = TestDaemon::start().await;
    post(
        &d,
        "/api/1/speakers",
        &[("speaker", r#"{"name":"Grace Hopper"}"#)],
    )
    .await;
    let archive = download_backup(&d).await;
    post(
        &d,
        "/api/1/speakers",
        &[("speaker", r#"{"name":"Alan Turing"}"#)],
    )
    .await;
    let before = answers(&d).await;

    let garbage = restore(&d, b"this is not an archive at all".repeat(40)).await;
    assert_eq!(
        garbage.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        garbage.text
    );
    assert_eq!(garbage.code(), "backup.invalid");

    let empty = restore(&d, Vec::new()).await;
    assert_eq!(empty.code(), "backup.invalid");

    let mut bytes = entries(&archive);
    let half = bytes[1].1.len() / 2;
    bytes[1].1.truncate(half);
    bytes[1].1.extend(std::iter::repeat_n(0x5a, 4096));
    let corrupt = restore(&d, pack(&bytes)).await;
    assert_eq!(corrupt.code(), "backup.invalid", "{}", corrupt.text);

    let no_manifest = restore(&d, pack(&entries(&archive)[1..])).await;
    assert_eq!(no_manifest.code(), "backup.invalid");
    assert!(
        no_manifest.text.contains("manifest"),
        "{}",
        no_manifest.text
    );

    let foreign = with_database(
        &archive,
        |c| c.execute_batch("DROP TABLE users").unwrap(),
        |_| {},
    );
    let foreign = restore(&d, foreign).await;
    assert_eq!(foreign.code(), "backup.invalid");
    assert!(foreign.text.contains("users"), "{}", foreign.text);

    let newer = with_database(
        &archive,
        |c| c.pragma_update(None, "user_version", 999).unwrap(),
        |m| m["schemaVersion"] = json!(999),
    );
    let newer = restore(&d, newer).await;
    assert_eq!(newer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(newer.code(), "backup.newer_schema");
    assert_eq!(newer.body["params"]["schemaVersion"], 999);

    // A multipart upload is read from its `archive` field.
    let boundary = "castd-test-boundary";
    let mut multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"archive\"; filename=\"b.tar\"\r\nContent-Type: application/x-tar\r\n\r\n"
    )
    .into_bytes();
    multipart.extend(b"garbage".repeat(100));
    multipart.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    let multipart = d
        .post("/api/1/maintenance/restore")
        .admin()
        .raw(
            &format!("multipart/form-data; boundary={boundary}"),
            multipart,
        )
        .send()
        .await;
    assert_eq!(multipart.code(), "backup.invalid", "{}", multipart.text);

    // A valid archive while a capture runs.
    crate::capture::small_template(&d).await;
    let started = crate::capture::start(&d, json!({"templateID": "small"})).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let busy = restore(&d, archive.clone()).await;
    assert_eq!(busy.status, StatusCode::CONFLICT, "{}", busy.text);
    assert_eq!(busy.code(), "backup.capture_running");
    crate::capture::action(&d, "stop").await;

    let refused_user = d
        .post("/api/1/maintenance/restore")
        .raw("application/octet-stream", archive)
        .send()
        .await;
    assert_eq!(refused_user.status, StatusCode::UNAUTHORIZED);

    let mut after = answers(&d).await;
    // The template the capture needed is the one change made on purpose.
    after[1] = before[1].clone();
    assert_eq!(after, before);
    let leftovers: Vec<String> = std::fs::read_dir(&d.data_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") || n.ends_with(".restore"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(d.get("/api/1/health").send().await.status, StatusCode::OK);
}

#[tokio::test]
async fn state_changing_calls_are_audited_with_user_route_status_and_code() {
    let d = TestDaemon::start().await;
    let since = store_now();
    let created = post(&d, "/api/1/speakers", &[("speaker", r#"{"name":"Ada"}"#)]).await;
    let failed = d
        .post("/api/1/speakers")
        .admin()
        .form(&[("speaker", r#"{"name":"Bob","email":"nope"}"#)])
        .send()
        .await;
    assert_eq!(failed.status, StatusCode::UNPROCESSABLE_ENTITY);
    let anonymous = d
        .delete(&format!("/api/1/speakers/{}", created["id"]))
        .send()
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    d.create_user("viewer", "Status viewer", "viewer-password")
        .await;
    let forbidden = d
        .post("/api/speakers")
        .auth("viewer", "viewer-password")
        .form(&[("speaker", r#"{"name":"Eve"}"#)])
        .send()
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    let redetect = d.get("/api/1/devices/redetect").admin().send().await;
    assert_eq!(redetect.status, StatusCode::OK);
    // Reads are not audited.
    d.get("/api/1/speakers").admin().send().await;

    let reply = d
        .get(&format!("/api/1/maintenance/audit?since={since}"))
        .admin()
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.headers["x-total-count"], "6");
    let entries = reply.body.as_array().unwrap().clone();
    let summary: Vec<(Value, Value, Value, Value, Value)> = entries
        .iter()
        .map(|e| {
            (
                e["method"].clone(),
                e["route"].clone(),
                e["user"].clone(),
                e["status"].clone(),
                e["code"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                json!("GET"),
                json!("/api/1/devices/redetect"),
                json!("admin"),
                json!(200),
                Value::Null
            ),
            (
                json!("POST"),
                json!("/api/speakers"),
                json!("viewer"),
                json!(403),
                json!("auth.forbidden")
            ),
            (
                json!("POST"),
                json!("/api/1/users"),
                json!("admin"),
                json!(201),
                Value::Null
            ),
            (
                json!("DELETE"),
                json!("/api/1/speakers/{id}"),
                Value::Null,
                json!(401),
                json!("auth.required")
            ),
            (
                json!("POST"),
                json!("/api/1/speakers"),
                json!("admin"),
                json!(422),
                json!("speakers.invalid")
            ),
            (
                json!("POST"),
                json!("/api/1/speakers"),
                json!("admin"),
                json!(201),
                Value::Null
            ),
        ]
    );
    let anonymous_entry = &entries[3];
    assert_eq!(
        anonymous_entry["path"],
        format!("/api/1/speakers/{}", created["id"])
    );
    assert_eq!(anonymous_entry["address"], "127.0.0.1");
    assert!(anonymous_entry["time"].as_i64().unwrap() >= since);
    assert!(anonymous_entry["durationMs"].as_i64().unwrap() >= 0);

    let page = d
        .get(&format!(
            "/api/1/maintenance/audit?since={since}&limit=2&offset=2"
        ))
        .admin()
        .send()
        .await;
    assert_eq!(page.headers["x-total-count"], "6");
    assert_eq!(page.body.as_array().unwrap(), &entries[2..4]);
    let viewer = d
        .get(&format!(
            "/api/1/maintenance/audit?since={since}&user=viewer"
        ))
        .admin()
        .send()
        .await;
    assert_eq!(viewer.body.as_array().unwrap(), &entries[1..2]);
    let not_admin = d
        .get("/api/1/maintenance/audit")
        .auth("viewer", "viewer-password")
        .send()
        .await;
    assert_eq!(not_admin.status, StatusCode::FORBIDDEN);
}
