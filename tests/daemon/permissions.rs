//! The permission matrix: every route in the OpenAPI document (which is generated from the
//! route table, so a new route cannot be missed) × no credentials, a wrong password, and
//! each of the five roles.
//!
//! Answers that never end (event streams, documented as `text/event-stream`) are judged by
//! their status and headers; the connection is dropped without reading the body.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common::{ADMIN_PASSWORD, TestDaemon};

/// API.md's table, written out again on purpose: the test must not trust the code's copy.
fn allowed(role: &str, permission: &str) -> bool {
    match permission {
        "none" | "any" | "view" => true,
        "sched" => matches!(role, "Administrator" | "Scheduler"),
        "media" => matches!(role, "Administrator" | "Content manager"),
        "admin" => role == "Administrator",
        other => panic!("unknown permission {other}"),
    }
}

/// Every (path, operations) of the document. A short path of the resource-URL convention
/// is a Path Item holding only a `$ref` to its group path's entry: it is checked with the
/// operations it refers to, at its own path.
fn operations(doc: &Value) -> Vec<(String, &serde_json::Map<String, Value>)> {
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .map(|(path, item)| {
            let item = match item.get("$ref").and_then(Value::as_str) {
                Some(target) => {
                    let target = target
                        .strip_prefix("#/paths/")
                        .unwrap_or_else(|| panic!("{path}: $ref {target} outside paths"))
                        .replace("%7B", "{")
                        .replace("%7D", "}")
                        .replace("~1", "/")
                        .replace("~0", "~");
                    let referred = &paths[&target];
                    assert!(referred.get("$ref").is_none(), "{path}: a $ref to a $ref");
                    referred
                }
                None => item,
            };
            (path.clone(), item.as_object().unwrap())
        })
        .collect()
}

/// Fills path parameters with values that name nothing, so no route changes real state.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            "{id}" | "{nodeID}" | "{graphID}" => "999999".to_string(),
            s if s.starts_with('{') => "no-such-thing".to_string(),
            s => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

const ROLES: [(&str, &str); 5] = [
    ("Administrator", "role-admin"),
    ("Scheduler", "role-scheduler"),
    ("Content manager", "role-content"),
    ("Status viewer", "role-status"),
    ("Presenter", "role-presenter"),
];
const PASSWORD: &str = "role-password";

#[tokio::test]
async fn every_route_answers_every_identity_as_the_permission_table_says() {
    let d = TestDaemon::start().await;
    for (role, name) in ROLES {
        d.create_user(name, role, PASSWORD).await;
    }
    let doc = d.get("/api/1/openapi.json").send().await.body;
    let mut checked = 0;
    let mut aliases_checked = 0;
    let mut streams_checked = 0;
    for (path, item) in operations(&doc) {
        let alias = doc["paths"][&path].get("$ref").is_some();
        for (method, op) in item {
            let method: Method = method.to_uppercase().parse().unwrap();
            let permission = op["x-permission"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no x-permission"));
            let url = format!("/api/1{}", concrete(&path));
            let what = format!("{method} {url} ({permission})");
            let streams = op["responses"]["200"]["content"]
                .get("text/event-stream")
                .is_some();

            let anon = d.request(method.clone(), &url).send_unless_stream().await;
            let wrong = d
                .request(method.clone(), &url)
                .auth("admin", "not-the-password")
                .send_unless_stream()
                .await;
            if permission == "none" {
                assert!(
                    !matches!(anon.status.as_u16(), 401 | 403),
                    "{what}: anonymous got {}",
                    anon.status
                );
            } else {
                assert_eq!(
                    (anon.status, anon.code()),
                    (StatusCode::UNAUTHORIZED, "auth.required"),
                    "{what}"
                );
                assert!(anon.headers.contains_key("www-authenticate"), "{what}");
                assert_eq!(
                    (wrong.status, wrong.code()),
                    (StatusCode::UNAUTHORIZED, "auth.invalid_credentials"),
                    "{what}"
                );
            }

            for (role, name) in ROLES {
                let reply = d
                    .request(method.clone(), &url)
                    .auth(name, PASSWORD)
                    .send_unless_stream()
                    .await;
                if streams && reply.status.is_success() {
                    let content_type = reply.headers["content-type"].to_str().unwrap();
                    assert!(
                        content_type.starts_with("text/event-stream"),
                        "{what} as {role}: {content_type}"
                    );
                    streams_checked += 1;
                }
                if allowed(role, permission) {
                    assert!(
                        !matches!(reply.status.as_u16(), 401 | 403 | 405)
                            && reply.status.as_u16() < 500,
                        "{what} as {role}: {} {}",
                        reply.status,
                        reply.text
                    );
                    assert_ne!(reply.code(), "route.not_found", "{what} as {role}");
                } else {
                    assert_eq!(
                        (reply.status, reply.code()),
                        (StatusCode::FORBIDDEN, "auth.forbidden"),
                        "{what} as {role}"
                    );
                }
            }

            // The same route under the short prefix behaves the same for a stranger.
            let short = d
                .request(method.clone(), &format!("/api{}", concrete(&path)))
                .send_unless_stream()
                .await;
            assert_eq!(short.status, anon.status, "{method} /api{path}");
            checked += 1;
            aliases_checked += usize::from(alias);
        }
    }
    assert!(checked >= 17, "only {checked} operations in the document");
    assert!(
        aliases_checked >= 8,
        "only {aliases_checked} operations at short paths"
    );
    assert!(streams_checked > 0, "no event stream was answered");
    // The admin is still there and still works after the whole matrix ran.
    let me = d
        .get("/api/1/users/current")
        .auth("admin", ADMIN_PASSWORD)
        .send()
        .await;
    assert_eq!(me.status, StatusCode::OK);
}

#[tokio::test]
async fn every_operation_is_documented_with_its_permission_and_an_id() {
    let d = TestDaemon::start().await;
    let doc = d.get("/api/1/openapi.json").send().await.body;
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if item.get("$ref").is_some() {
            continue; // a short path: its operations are those of the entry it refers to
        }
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{id}: no summary"
            );
            let permission = op["x-permission"].as_str().unwrap();
            if permission != "none" {
                assert!(
                    op["responses"]["401"].is_object(),
                    "{id}: 401 not documented"
                );
            }
        }
    }
    for id in [
        "getStatus",
        "getCaptureStatus",
        "getUnitInfo",
        "getNetwork",
        "getDiskSpace",
        "getSettings",
        "updateSettings",
        "getSetting",
        "updateSetting",
        "getUsers",
        "currentUser",
        "createUser",
        "updateUser",
        "deleteUser",
        "health",
    ] {
        assert!(ids.contains(id), "{id} missing from the document");
    }
    let codes = doc["x-error-codes"].as_object().expect("error catalog");
    assert_eq!(codes["auth.forbidden"]["status"], Value::from(403));
}
