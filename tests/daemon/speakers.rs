//! Speakers over HTTP: CRUD with validation, and speaker references in capture requests
//! and scheduled events resolved to the snapshot that media packages and events keep.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::capture::{finished_package, small_template, start};
use crate::common::{Reply, TestDaemon};
use crate::store_now;

const LINK: &str = "com.cattura.share.processor.data_provider.elements.Link";
const ASSET: &str = "com.cattura.share.processor.data_provider.elements.Asset";

async fn create(d: &TestDaemon, speaker: Value) -> Reply {
    let body = speaker.to_string();
    d.post("/api/1/speakers")
        .admin()
        .form(&[("speaker", body.as_str())])
        .send()
        .await
}

fn ada() -> Value {
    json!({
        "name": "Ada Lovelace",
        "email": "ada@example.edu",
        "biography": "Wrote the first program.",
        "credentials": "Countess of Lovelace",
        "image": {"path": "ada.jpg", "mimeType": "image/jpeg"},
        "links": [{"title": "Notes", "url": "https://example.edu/notes"}]
    })
}

#[tokio::test]
async fn speakers_are_created_listed_updated_and_deleted_with_validation() {
    let d = TestDaemon::start().await;
    let created = create(&d, ada()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_i64().unwrap();
    assert_eq!(created.body["name"], "Ada Lovelace");
    assert_eq!(created.body["image"]["@class"], ASSET);
    assert_eq!(created.body["links"][0]["@class"], LINK);

    // Anyone who may view lists them; only media managers change them.
    d.create_user("panel", "Presenter", "panel-password").await;
    let listed = d
        .get("/api/1/speakers")
        .auth("panel", "panel-password")
        .send()
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body, json!([created.body]));
    let refused = d
        .post("/api/1/speakers")
        .auth("panel", "panel-password")
        .form(&[("speaker", r#"{"name":"Eve"}"#)])
        .send()
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // An update changes only what it names; null clears.
    let updated = d
        .post(&format!("/api/1/speakers/{id}"))
        .admin()
        .form(&[(
            "speaker",
            r#"{"credentials":"Mathematician","biography":null}"#,
        )])
        .send()
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    assert_eq!(updated.body["credentials"], "Mathematician");
    assert_eq!(updated.body["biography"], Value::Null);
    assert_eq!(updated.body["email"], "ada@example.edu");

    for (speaker, field) in [
        (json!({"email": "x@example.edu"}), "name"),
        (json!({"name": "  "}), "name"),
        (json!({"name": "Bob", "email": "bob at example"}), "email"),
        (
            json!({"name": "Bob", "links": [{"url": "javascript:alert(1)"}]}),
            "links[0].url",
        ),
        (
            json!({"name": "Bob", "links": [{"title": "no url"}]}),
            "links[0].url",
        ),
        (json!({"name": "Bob", "image": "ada.jpg"}), "image"),
        (
            json!({"name": "Bob", "image": {"@class": LINK}}),
            "image.@class",
        ),
    ] {
        let reply = create(&d, speaker.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{speaker}: {}",
            reply.text
        );
        assert_eq!(reply.code(), "speakers.invalid");
        assert_eq!(reply.body["params"]["field"], field, "{speaker}");
    }
    let duplicate = create(&d, json!({"name": "ADA LOVELACE"})).await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert_eq!(duplicate.code(), "speakers.duplicate_name");
    let invalid_update = d
        .post(&format!("/api/1/speakers/{id}"))
        .admin()
        .form(&[("speaker", r#"{"email":"nope"}"#)])
        .send()
        .await;
    assert_eq!(invalid_update.code(), "speakers.invalid");

    let deleted = d
        .delete(&format!("/api/1/speakers/{id}"))
        .admin()
        .send()
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let again = d
        .delete(&format!("/api/1/speakers/{id}"))
        .admin()
        .send()
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.code(), "speakers.not_found");
    let missing = d
        .post("/api/1/speakers/999")
        .admin()
        .form(&[("speaker", r#"{"name":"X"}"#)])
        .send()
        .await;
    assert_eq!(missing.code(), "speakers.not_found");
    let empty = d.get("/api/1/speakers").admin().send().await;
    assert_eq!(empty.body, json!([]));
}

/// Records a short capture with `speaker` and returns its finished package.
async fn record_with(d: &TestDaemon, speaker: Value) -> Value {
    let started = start(
        d,
        json!({"templateID": "small", "title": "Talk", "speaker": speaker}),
    )
    .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let id = started.body["mediaPackageID"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stopped = crate::capture::action(d, "stop").await;
    assert_eq!(
        stopped.status,
        StatusCode::OK,
        "{}\n{}",
        stopped.text,
        d.stderr()
    );
    finished_package(d, &id).await
}

#[tokio::test]
async fn captures_keep_the_speaker_snapshot_even_after_the_speaker_is_deleted() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let speaker = create(&d, ada()).await.body;
    let id = speaker["id"].as_i64().unwrap();

    // `speaker` is the id (the vendor's number), `speakerInfo` the whole speaker.
    let by_name = record_with(&d, json!("ada lovelace")).await;
    assert_eq!(by_name["speaker"], id, "{by_name}");
    assert_eq!(by_name["speakerInfo"], speaker, "{by_name}");
    let by_id = record_with(&d, json!(id.to_string())).await;
    assert_eq!(by_id["speaker"], id);
    assert_eq!(by_id["speakerInfo"], speaker);

    // A name nobody registered is kept as an inline speaker: the lecture is recorded.
    let guest = record_with(&d, json!("Guest Lecturer")).await;
    assert_eq!(guest["speaker"], 0, "{guest}");
    assert_eq!(guest["speakerInfo"]["name"], "Guest Lecturer", "{guest}");
    assert!(guest["speakerInfo"].get("id").is_none(), "{guest}");
    let unknown_id = start(&d, json!({"templateID": "small", "speaker": 424242})).await;
    assert_eq!(unknown_id.code(), "speakers.unknown_reference");
    let status = d.get("/api/1/status/capture").admin().send().await;
    assert_ne!(
        status.body["state"], "capturing",
        "a refused start records nothing"
    );

    let deleted = d
        .delete(&format!("/api/1/speakers/{id}"))
        .admin()
        .send()
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let package_id = by_name["id"].as_str().unwrap();
    let package = d
        .get(&format!("/api/1/capture/mediaPackages/{package_id}"))
        .admin()
        .send()
        .await;
    assert_eq!(package.status, StatusCode::OK);
    assert_eq!(package.body["speaker"], id);
    assert_eq!(package.body["speakerInfo"], speaker);
    assert_eq!(package.body["state"], by_name["state"]);
}

#[tokio::test]
async fn scheduled_events_resolve_their_speaker_and_refuse_unknown_ids() {
    let d = TestDaemon::start().await;
    let speaker = create(&d, ada()).await.body;
    let start_time = store_now() + 3_600_000;
    let event = |speaker: Value| {
        json!({"title": "Lecture", "templateID": "lecture", "startTime": start_time,
               "stopTime": start_time + 600_000, "speaker": speaker})
        .to_string()
    };
    let unknown = d
        .post("/api/1/scheduler/events")
        .admin()
        .form(&[("event", event(json!(424242)).as_str())])
        .send()
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.text
    );
    assert_eq!(unknown.code(), "speakers.unknown_reference");
    let listed = d.get("/api/1/scheduler/events").admin().send().await;
    assert_eq!(listed.body, json!([]), "nothing was scheduled");

    let created = d
        .post("/api/1/scheduler/events")
        .admin()
        .form(&[("event", event(json!("Ada Lovelace")).as_str())])
        .send()
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["speaker"], speaker["id"]);
    assert_eq!(created.body["speakerInfo"], speaker);
    let id = created.body["id"].as_str().unwrap();

    let unknown_update = d
        .post(&format!("/api/1/scheduler/events/{id}"))
        .admin()
        .form(&[("event", r#"{"speaker": 999}"#)])
        .send()
        .await;
    assert_eq!(unknown_update.code(), "speakers.unknown_reference");
    let inline = d
        .post(&format!("/api/1/scheduler/events/{id}"))
        .admin()
        .form(&[(
            "event",
            r#"{"speaker": {"name": "Guest Lecturer", "email": "guest@example.org"}}"#,
        )])
        .send()
        .await;
    assert_eq!(inline.status, StatusCode::OK, "{}", inline.text);
    assert_eq!(inline.body["speaker"], 0, "an inline speaker has no id");
    assert_eq!(inline.body["speakerInfo"]["name"], "Guest Lecturer");
    assert_eq!(inline.body["speakerInfo"]["links"], json!([]));

    let group = json!({"title": "Series", "templateID": "lecture", "rrule": "FREQ=WEEKLY;COUNT=2",
        "startTime": start_time + 86_400_000, "duration": 600_000, "speaker": {"id": 31337}})
    .to_string();
    let refused_group = d
        .post("/api/1/scheduler/groups")
        .admin()
        .form(&[("group", group.as_str())])
        .send()
        .await;
    assert_eq!(refused_group.code(), "speakers.unknown_reference");
}
