//! Credentials stay secret: never in the daemon's log, never unmasked in any answer. Login
//! throttling beyond what `auth.rs` covers (growing and capped lockouts, sprayed user
//! names), and wrong user names cost as much time as wrong passwords.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{ADMIN_PASSWORD, Options, RELAXED_AUTH, TestDaemon};

/// Each secret carries a distinctive middle part: a masked value shows at most its last
/// characters, so finding the middle part anywhere means the secret leaked.
const SECRETS: &[(&str, &str)] = &[
    ("user password", "pw-USERPASS-Kx81"),
    ("changed user password", "pw-NEWPASS-Lq27"),
    ("wrong password", "pw-WRONGGUESS-Zt44"),
    ("S3 secret key", "s3-S3SECRETKEY-Hh90"),
    ("Opencast password", "oc-OPENCASTPW-Jj12"),
    ("Flow Capture API key", "fc-FLOWAPIKEY-Pp34"),
    ("RTMP stream key", "sk-STREAMKEY-Rr56"),
    ("network camera password", "cam-CAMERAPW-Ww78"),
    ("password inside a camera URL", "url-URLPASSWORD-Yy90"),
];

fn middle(secret: &str) -> &str {
    secret.split('-').nth(1).unwrap()
}

fn secret(name: &str) -> &'static str {
    SECRETS.iter().find(|(n, _)| *n == name).unwrap().1
}

async fn ok(reply: crate::common::Reply, what: &str) -> Value {
    assert!(
        reply.status.is_success(),
        "{what}: {} {}",
        reply.status,
        reply.text
    );
    reply.body
}

/// Configures every kind of secret castd keeps, and logs in right and wrong.
async fn configure_secrets(d: &TestDaemon) -> i64 {
    let user = d
        .create_user("panel", "Presenter", secret("user password"))
        .await;
    for pw in [secret("user password"), secret("wrong password")] {
        d.get("/api/1/users/current").auth("panel", pw).send().await;
        d.get("/api/1/users/current")
            .auth("nobody", pw)
            .send()
            .await;
    }
    d.get("/api/1/status")
        .auth("admin", secret("wrong password"))
        .send()
        .await;
    let change = json!({"roles": ["Presenter"]}).to_string();
    ok(
        d.post(&format!("/api/1/users/{user}"))
            .admin()
            .form(&[
                ("user", change.as_str()),
                ("password", secret("changed user password")),
            ])
            .send()
            .await,
        "password change",
    )
    .await;
    d.get("/api/1/users/current")
        .auth("panel", secret("changed user password"))
        .send()
        .await;

    for (publisher, config) in [
        (
            "s3",
            json!({"endpoint": "http://127.0.0.1:9", "region": "eu-central-1", "bucket": "lectures",
                   "accessKey": "AKIDCASTD", "secretKey": secret("S3 secret key")}),
        ),
        (
            "opencast",
            json!({"url": "http://127.0.0.1:9", "username": "ingest",
                   "password": secret("Opencast password"), "workflowID": "fast"}),
        ),
        (
            "flowcapture",
            json!({"baseUrl": "http://127.0.0.1:9/api/v2", "email": "cap@uni.example",
                   "apiKey": secret("Flow Capture API key"), "projectID": 42}),
        ),
    ] {
        let config = config.to_string();
        ok(
            d.post(&format!(
                "/api/1/capture/publishing/configurations/{publisher}"
            ))
            .admin()
            .form(&[("config", config.as_str())])
            .send()
            .await,
            publisher,
        )
        .await;
        // A connection test logs its outcome; the secret must not be in it.
        let test = json!({"publisherID": publisher}).to_string();
        d.post("/api/1/capture/publishing/test")
            .admin()
            .form(&[("config", test.as_str())])
            .send()
            .await;
    }

    // A password in the URL is refused, without repeating it.
    let in_url = json!({"cameras": [{"id": "front", "name": "Front camera",
        "url": format!("rtsp://viewer:{}@127.0.0.1:9/stream1", secret("password inside a camera URL"))}]})
    .to_string();
    let reply = d
        .post("/api/1/plugins/network/settings")
        .admin()
        .form(&[("settings", in_url.as_str())])
        .send()
        .await;
    assert_eq!(reply.code(), "plugins.invalid_settings", "{}", reply.text);
    assert!(
        !reply
            .text
            .contains(middle(secret("password inside a camera URL")))
    );
    let cameras = json!({"cameras": [{
        "id": "front", "name": "Front camera", "url": "rtsp://127.0.0.1:9/stream1",
        "username": "viewer", "password": secret("network camera password"), "audio": false}]})
    .to_string();
    ok(
        d.post("/api/1/plugins/network/settings")
            .admin()
            .form(&[("settings", cameras.as_str())])
            .send()
            .await,
        "network cameras",
    )
    .await;

    let template = json!({
        "id": "secret-live", "name": "Secret live",
        "graph": {"root": "recording", "nodes": [
            {"id": "cam", "type": "videoDevice", "options": {"device": "network:front"}, "children": ["video"]},
            {"id": "video", "type": "h264Encoder", "options": {"bitrate": 400, "preset": "ultrafast"}, "children": ["recording", "platform"]},
            {"id": "platform", "type": "rtmpOutput", "options": {"url": "rtmp://127.0.0.1:9/live", "streamKey": secret("RTMP stream key")}},
            {"id": "recording", "type": "fileRecorder"}
        ]}
    })
    .to_string();
    let reply = d
        .post("/api/1/capture/templates")
        .admin()
        .form(&[("template", template.as_str())])
        .send()
        .await;
    if !reply.status.is_success() {
        // The template's exact option names are not the point; keep the stream key in a
        // template that the plain graph builder accepts.
        panic!("template with secrets refused: {}", reply.text);
    }
    user
}

/// Every GET route of the OpenAPI document with its path parameters filled from `ids`.
async fn get_routes(d: &TestDaemon) -> Vec<String> {
    let doc = d.get("/api/1/openapi.json").send().await.body;
    let mut paths = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        if ops.get("get").is_some() {
            paths.push(path.clone());
        }
    }
    assert!(paths.len() > 30, "only {} GET routes", paths.len());
    paths
}

fn fill(path: &str, ids: &[String]) -> Vec<String> {
    let mut filled = vec![String::new()];
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        let choices: Vec<String> = if segment.starts_with('{') {
            ids.to_vec()
        } else {
            vec![segment.to_string()]
        };
        filled = filled
            .iter()
            .flat_map(|prefix| choices.iter().map(move |c| format!("{prefix}/{c}")))
            .collect();
    }
    filled.sort();
    filled.dedup();
    filled
}

#[tokio::test]
async fn credentials_never_reach_the_log_and_secrets_never_an_answer_unmasked() {
    let d = TestDaemon::start().await;
    let user = configure_secrets(&d).await;

    let ids: Vec<String> = [
        "secret-live",
        "s3",
        "opencast",
        "flowcapture",
        "network",
        "network:front",
        "platform",
        "cam",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([user.to_string()])
    .collect();
    let mut answers = 0;
    let mut leaks = Vec::new();
    for route in get_routes(&d).await {
        let concrete = fill(&route, &ids);
        // Two-parameter routes get every combination; that is enough to reach each object.
        for path in concrete.iter().take(100) {
            let reply = d
                .get(&format!("/api/1{path}"))
                .admin()
                .send_unless_stream()
                .await;
            let kind = reply
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            // Backups carry the database itself (restoring must restore the secrets) and
            // pictures carry no text; every other answer is searched.
            if kind.starts_with("application/x-tar") || kind.starts_with("image/") {
                continue;
            }
            answers += 1;
            for (name, secret) in SECRETS {
                if reply.text.contains(middle(secret)) {
                    leaks.push(format!("{name} in GET {path}"));
                }
            }
        }
    }
    eprintln!(
        "searched {answers} answers of GET routes for {} secrets",
        SECRETS.len()
    );
    assert!(answers > 50, "only {answers} answers searched");
    assert!(
        leaks.is_empty(),
        "secrets in answers:\n{}",
        leaks.join("\n")
    );

    // The masked forms are there, so the search above looked at the right answers.
    for path in [
        "/api/1/capture/publishing/configurations",
        "/api/1/capture/templates/secret-live",
        "/api/1/plugins/network/settings",
    ] {
        let reply = d.get(path).admin().send().await;
        assert!(reply.text.contains("••••"), "{path}: {}", reply.text);
    }

    let log = d.stderr();
    assert!(log.lines().count() > 5, "the log is nearly empty:\n{log}");
    let mut logged = Vec::new();
    for (name, secret) in SECRETS.iter().chain(&[("admin password", ADMIN_PASSWORD)]) {
        let needle = if *name == "admin password" {
            secret
        } else {
            middle(secret)
        };
        if log.contains(needle) {
            logged.push(*name);
        }
    }
    assert!(logged.is_empty(), "in the log: {logged:?}\n{log}");
}

fn client_from(ip: &str) -> reqwest::Client {
    castd::http_client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn login(client: &reqwest::Client, d: &TestDaemon, user: &str, pw: &str) -> (u16, u64) {
    let r = client
        .get(format!("{}/api/1/status/capture", d.url))
        .basic_auth(user, Some(pw))
        .send()
        .await
        .unwrap();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (r.status().as_u16(), retry)
}

#[tokio::test]
async fn lockouts_grow_up_to_the_cap_sprayed_and_unknown_names_are_throttled_alike() {
    let d = TestDaemon::start_with(Options {
        config_toml: "[auth]\nmax_failures_per_address = 3\nmax_failures_per_user = 5\n\
            failure_window_secs = 600\nbase_lockout_secs = 1\nmax_lockout_secs = 2\n\
            [capture]\nkeep_inputs_hot = false\n"
            .into(),
        ..Options::default()
    })
    .await;

    // One address spraying user names that do not exist: the third failure locks it for
    // 1 s, the next for 2 s, and then it stays at the 2 s cap.
    let sprayer = client_from("127.0.3.1");
    let mut answers = Vec::new();
    let mut waits = Vec::new();
    for i in 0..20 {
        let (status, retry) = login(&sprayer, &d, &format!("ghost{i}"), "pw-pw-pw-pw").await;
        answers.push(status);
        if status == 429 {
            waits.push(retry);
            if waits.len() == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(retry * 1000 + 100)).await;
        }
    }
    eprintln!("answers {answers:?}, Retry-After {waits:?}");
    assert_eq!(answers[..4], [401, 401, 401, 429], "{answers:?}");
    assert_eq!(waits, [1, 2, 2], "doubling, capped at max_lockout_secs");

    // One unknown user name guessed from many addresses is locked like a known one, so
    // a 429 does not tell which names exist.
    for name in ["ghost", "admin"] {
        for i in 0..5 {
            let from = client_from(&format!("127.0.4.{}", i + 1));
            assert_eq!(login(&from, &d, name, "x-x-x-x-x").await.0, 401, "{name}");
        }
        let fresh = client_from("127.0.4.99");
        assert_eq!(login(&fresh, &d, name, "x-x-x-x-x").await.0, 429, "{name}");
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Wrong user names and wrong passwords both run a full argon2 verification, so timing
/// cannot tell which user names exist. Attempts alternate, so a busy machine slows both.
#[tokio::test]
async fn wrong_user_names_take_as_long_as_wrong_passwords() {
    let d = TestDaemon::start_with(Options {
        config_toml: RELAXED_AUTH.into(),
        ..Options::default()
    })
    .await;
    const ATTEMPTS: usize = 200;
    let mut wrong_user = Vec::with_capacity(ATTEMPTS);
    let mut wrong_password = Vec::with_capacity(ATTEMPTS);
    // Warm up connection and caches.
    d.get("/api/1/status").auth("nobody", "x").send().await;
    for i in 0..ATTEMPTS {
        let t = Instant::now();
        let r = d
            .get("/api/1/status")
            .auth(&format!("nobody{i}"), "guess-guess")
            .send()
            .await;
        wrong_user.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let t = Instant::now();
        let r = d
            .get("/api/1/status")
            .auth("admin", &format!("guess-guess{i}"))
            .send()
            .await;
        wrong_password.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let (u, p) = (median(wrong_user), median(wrong_password));
    let ratio = u / p;
    eprintln!(
        "login timing over {ATTEMPTS} attempts each: wrong user median {u:.2} ms, \
         wrong password median {p:.2} ms, ratio {ratio:.3}"
    );
    assert!(
        (0.75..=1.25).contains(&ratio),
        "wrong user {u:.2} ms vs wrong password {p:.2} ms"
    );
}
