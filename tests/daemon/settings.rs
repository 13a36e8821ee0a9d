//! The `settings` group over HTTP.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::TestDaemon;

#[tokio::test]
async fn all_known_settings_are_listed_with_defaults_and_schemas() {
    let d = TestDaemon::start().await;
    let all = d.get("/api/1/settings").admin().send().await.body;
    let keys: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    for key in [
        "unitName",
        "timezone",
        "concurrentCaptures",
        "mediaRetentionDays",
        "diskReserveMb",
        "defaultTemplate",
        "previewIntervalMs",
        "publicStatus",
    ] {
        assert!(keys.contains(&key), "{key} missing");
    }
    for s in all.as_array().unwrap() {
        assert_eq!(
            s["value"], s["default"],
            "{} starts at its default",
            s["key"]
        );
        assert!(s["schema"]["type"].is_string() || s["schema"]["type"].is_array());
        assert!(!s["description"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn invalid_or_unknown_settings_are_422_or_404_and_all_or_nothing() {
    let d = TestDaemon::start().await;
    let before = d.get("/api/1/settings").admin().send().await.body;

    let reply = d.get("/api/1/settings/noSuchSetting").admin().send().await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::NOT_FOUND, "settings.not_found")
    );

    let reply = d
        .post("/api/1/settings/previewIntervalMs")
        .admin()
        .form(&[("value", "5")])
        .send()
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "settings.invalid_value")
    );
    assert_eq!(reply.body["params"]["key"], "previewIntervalMs");

    let reply = d
        .post("/api/1/settings/timezone")
        .admin()
        .form(&[("value", "Mars/Olympus_Mons")])
        .send()
        .await;
    assert_eq!(reply.code(), "settings.invalid_value");

    // One bad key spoils the whole batch.
    let reply = d
        .post("/api/1/settings")
        .admin()
        .form(&[("settings", r#"{"unitName":"Changed","noSuchSetting":1}"#)])
        .send()
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "settings.unknown_key")
    );
    let reply = d
        .post("/api/1/settings")
        .admin()
        .form(&[(
            "settings",
            r#"{"unitName":"Changed","concurrentCaptures":"perhaps"}"#,
        )])
        .send()
        .await;
    assert_eq!(reply.code(), "settings.invalid_value");

    assert_eq!(d.get("/api/1/settings").admin().send().await.body, before);
}

#[tokio::test]
async fn update_settings_leaves_unnamed_keys_alone() {
    let d = TestDaemon::start().await;
    d.post("/api/1/settings/unitName")
        .admin()
        .form(&[("value", "Hall 1")])
        .send()
        .await;
    let reply = d
        .post("/api/1/settings")
        .admin()
        .form(&[(
            "settings",
            r#"{"timezone":"Europe/Berlin","defaultTemplate":null}"#,
        )])
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let value = |key: &str| -> Value {
        reply
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(value("unitName"), json!("Hall 1"));
    assert_eq!(value("timezone"), json!("Europe/Berlin"));
    assert_eq!(value("defaultTemplate"), Value::Null);
}
