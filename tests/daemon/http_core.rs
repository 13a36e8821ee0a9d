//! The HTTP conventions: error format, 404/405/413/415, tolerant forms, JSON bodies, docs.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::TestDaemon;

fn assert_error(reply: &crate::common::Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(reply.code(), code, "{}", reply.text);
    assert_eq!(reply.body["status_code"], Value::from(status.as_u16()));
    assert!(reply.body["error"].is_string() && reply.body["message"].is_string());
    assert!(reply.body["params"].is_object());
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "errors are JSON"
    );
}

async fn settings_snapshot(d: &TestDaemon) -> Value {
    d.get("/api/1/settings").admin().send().await.body
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_use_the_error_format() {
    let d = TestDaemon::start().await;
    assert_error(
        &d.get("/api/1/no/such/route").send().await,
        StatusCode::NOT_FOUND,
        "route.not_found",
    );
    assert_error(
        &d.get("/elsewhere").send().await,
        StatusCode::NOT_FOUND,
        "route.not_found",
    );
    let reply = d
        .request(reqwest::Method::PUT, "/api/1/status")
        .admin()
        .send()
        .await;
    assert_error(
        &reply,
        StatusCode::METHOD_NOT_ALLOWED,
        "route.method_not_allowed",
    );
    assert!(reply.headers["allow"].to_str().unwrap().contains("GET"));
    assert_error(
        &d.delete("/api/1/users/abc").admin().send().await,
        StatusCode::BAD_REQUEST,
        "request.bad_path_param",
    );
}

#[tokio::test]
async fn both_prefixes_serve_the_same_routes() {
    let d = TestDaemon::start().await;
    let long = d.get("/api/1/status/capture").admin().send().await;
    let short = d.get("/api/status/capture").admin().send().await;
    assert_eq!(long.status, StatusCode::OK);
    assert_eq!(long.body, short.body);
    assert_eq!(long.body, json!({"state": "idle"}));
}

#[tokio::test]
async fn form_values_may_be_url_encoded_json_raw_json_or_strings_for_booleans_and_numbers() {
    let d = TestDaemon::start().await;

    // url-encoded JSON (what browsers and HTTP libraries send)
    let reply = d
        .post("/api/1/settings")
        .admin()
        .form(&[(
            "settings",
            r#"{"unitName":"Hall A","concurrentCaptures":true}"#,
        )])
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    // raw JSON that was never url-encoded, with & + % inside strings, and "true"/"512" strings
    let raw =
        r#"settings={"unitName":"Hall B&C + 100%","publicStatus":"true","diskReserveMb":"512"}"#;
    let reply = d
        .post("/api/1/settings")
        .admin()
        .raw("application/x-www-form-urlencoded", raw)
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let get = |key: &str| {
        let d = &d;
        let key = key.to_string();
        async move {
            d.get(&format!("/api/1/settings/{key}"))
                .admin()
                .send()
                .await
                .body["value"]
                .clone()
        }
    };
    assert_eq!(get("unitName").await, json!("Hall B&C + 100%"));
    assert_eq!(get("publicStatus").await, json!(true));
    assert_eq!(get("diskReserveMb").await, json!(512));
    assert_eq!(get("concurrentCaptures").await, json!(true));

    // a plain form value for one setting; "false" as a string
    let reply = d
        .post("/api/1/settings/concurrentCaptures")
        .admin()
        .form(&[("value", "false")])
        .send()
        .await;
    assert_eq!(reply.body["value"], json!(false), "{}", reply.text);

    // a JSON body whose keys are the parameters
    let reply = d
        .post("/api/1/settings")
        .admin()
        .raw(
            "application/json",
            json!({"settings": {"previewIntervalMs": "2500"}}).to_string(),
        )
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(get("previewIntervalMs").await, json!(2500));

    // a form without a Content-Type (curl -d style scripts)
    let reply = d
        .post("/api/1/settings/unitName")
        .admin()
        .header("content-type", "")
        .raw("", "value=Room+7")
        .send()
        .await;
    assert_eq!(reply.body["value"], json!("Room 7"), "{}", reply.text);
}

#[tokio::test]
async fn malformed_requests_are_400_and_change_nothing() {
    let d = TestDaemon::start().await;
    let before = settings_snapshot(&d).await;

    let reply = d
        .post("/api/1/settings")
        .admin()
        .raw("application/x-www-form-urlencoded", "settings=%FF%FE")
        .send()
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "request.malformed_form");

    let reply = d
        .post("/api/1/settings")
        .admin()
        .form(&[("settings", r#"{"unitName": "x",#"#)])
        .send()
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "request.malformed_json");
    assert_eq!(reply.body["params"]["param"], "settings");

    let reply = d
        .post("/api/1/settings")
        .admin()
        .raw("application/json", "{\"settings\": ")
        .send()
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "request.malformed_json");

    let reply = d
        .post("/api/1/settings")
        .admin()
        .raw("application/json", "[1,2]")
        .send()
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "request.malformed_json");

    let reply = d.post("/api/1/settings").admin().form(&[]).send().await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "request.missing_param");
    assert_eq!(reply.body["params"]["param"], "settings");

    let reply = d
        .post("/api/1/settings")
        .admin()
        .raw("text/xml", "<settings/>")
        .send()
        .await;
    assert_error(
        &reply,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "request.unsupported_media_type",
    );

    assert_eq!(settings_snapshot(&d).await, before);
}

#[tokio::test]
async fn oversized_bodies_are_413_with_or_without_a_length() {
    let d = TestDaemon::start().await;
    let before = settings_snapshot(&d).await;
    // Declared too large, and chunked (no length to reject up front). The server answers
    // before reading everything and closes, so speak raw HTTP and tolerate the broken pipe.
    for chunked in [false, true] {
        let answer = send_large(&d, "/api/1/settings", 2 * 1024 * 1024, chunked);
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "chunked={chunked}: {answer}"
        );
        assert!(answer.contains("request.body_too_large"), "{answer}");
    }
    assert_eq!(settings_snapshot(&d).await, before);
}

fn send_large(d: &TestDaemon, path: &str, total: usize, chunked: bool) -> String {
    use base64::Engine as _;
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(d.url.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("admin:{}", crate::common::ADMIN_PASSWORD));
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {total}")
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n{framing}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0;
    while sent < total {
        let framed = if chunked {
            [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat()
        } else {
            chunk.clone()
        };
        if stream.write_all(&framed).is_err() {
            break;
        }
        sent += chunk.len();
    }
    if chunked {
        let _ = stream.write_all(b"0\r\n\r\n");
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn docs_and_openapi_need_no_credentials() {
    let d = TestDaemon::start().await;
    let doc = d.get("/api/1/openapi.json").send().await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["paths"]["/status/capture"]["get"].is_object());
    let page = d.get("/api/1/docs").send().await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    // The page is rendered from the document: every operation and error code appears.
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        if item.get("$ref").is_some() {
            // A short path of the resource-URL convention, named on its original's entry.
            assert!(
                page.text.contains(&format!("/api/1{path}</code>")),
                "{path} missing from the docs page"
            );
            continue;
        }
        for (_, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            assert!(
                page.text.contains(&format!("id=\"{id}\"")),
                "{id} missing from the docs page"
            );
        }
    }
    assert!(page.text.contains("settings.invalid_value"));
    assert_eq!(d.get("/api/health").send().await.body, json!({"ok": true}));
}
