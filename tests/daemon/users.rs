//! The `users` group over HTTP.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestDaemon;

#[tokio::test]
async fn users_are_created_listed_updated_and_deleted() {
    let d = TestDaemon::start().await;
    let id = d
        .create_user("scheduler1", "Scheduler", "sched-password")
        .await;

    let list = d.get("/api/1/users").admin().send().await.body;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "scheduler1"]);
    assert!(
        list.to_string().find("password").is_none(),
        "hashes never leave the store"
    );

    let me = d
        .get("/api/1/users/current")
        .auth("scheduler1", "sched-password")
        .send()
        .await;
    assert_eq!(
        me.body,
        json!({"id": id, "username": "scheduler1", "roles": ["Scheduler"]})
    );

    let reply = d
        .post(&format!("/api/1/users/{id}"))
        .admin()
        .form(&[
            ("user", r#"{"roles":["Scheduler","Content manager"]}"#),
            ("password", "new-password"),
        ])
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["roles"], json!(["Scheduler", "Content manager"]));
    assert_eq!(
        d.get("/api/1/users/current")
            .auth("scheduler1", "sched-password")
            .send()
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "the old password stops working at once"
    );
    assert_eq!(
        d.get("/api/1/users/current")
            .auth("scheduler1", "new-password")
            .send()
            .await
            .status,
        StatusCode::OK
    );

    let reply = d.delete(&format!("/api/1/users/{id}")).admin().send().await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        d.get("/api/1/users/current")
            .auth("scheduler1", "new-password")
            .send()
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "a deleted user cannot log in, even from the credential cache"
    );
    let reply = d.delete(&format!("/api/1/users/{id}")).admin().send().await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::NOT_FOUND, "users.not_found")
    );
}

#[tokio::test]
async fn bad_user_requests_are_refused_and_change_nothing() {
    let d = TestDaemon::start().await;
    d.create_user("anna", "Presenter", "anna-password").await;
    let before = d.get("/api/1/users").admin().send().await.body;

    let create = |user: &'static str, password: &'static str| {
        d.post("/api/1/users")
            .admin()
            .form(&[("user", user), ("password", password)])
            .send()
    };
    let reply = create(r#"{"username":"ANNA","roles":["Presenter"]}"#, "password1").await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::CONFLICT, "users.duplicate_username")
    );
    let reply = create(r#"{"username":"bob","roles":["Janitor"]}"#, "password1").await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation.invalid_field")
    );
    assert_eq!(reply.body["params"]["field"], "roles[0]");
    let reply = create(r#"{"username":"bob","roles":[]}"#, "password1").await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "users.invalid_roles")
    );
    let reply = create(r#"{"username":"bob:x","roles":["Presenter"]}"#, "password1").await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "users.invalid_username")
    );
    let reply = create(r#"{"username":"bob","roles":["Presenter"]}"#, "short").await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "users.invalid_password")
    );

    // The only Administrator can be neither deleted nor demoted.
    let reply = d.delete("/api/1/users/1").admin().send().await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::CONFLICT, "users.last_admin")
    );
    let reply = d
        .post("/api/1/users/1")
        .admin()
        .form(&[("user", r#"{"roles":["Presenter"]}"#)])
        .send()
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::CONFLICT, "users.last_admin")
    );
    // Renaming to a taken name is a conflict too.
    let reply = d
        .post("/api/1/users/1")
        .admin()
        .form(&[("user", r#"{"username":"Anna"}"#)])
        .send()
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::CONFLICT, "users.duplicate_username")
    );

    assert_eq!(d.get("/api/1/users").admin().send().await.body, before);
}
