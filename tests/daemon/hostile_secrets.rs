//! Lower roles after the publishers' secrets, the recording and the files around the share:
//! capture requests whose `publishingOverrides` point elsewhere, a Content manager testing
//! or publishing with another server's address, override secrets read back, and a local
//! share with planted links. A listener plays the attacker's server and keeps every byte
//! it is sent.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::capture::{finished_package, small_template};
use crate::common::{Reply, TestDaemon, configure_publisher, main_file, md5_hex};
use crate::peers::opencast;
use crate::publishing::{ended_job, free_port, publish, recorded_package, wait_done};

const PASSWORD: &str = "pw-hostile-secrets";
const OPENCAST_USER: &str = "ingest";
const OPENCAST_PASSWORD: &str = "oc-STOREDOCPW-Kk31";
const FLOW_API_KEY: &str = "fc-STOREDAPIKEY-Ll42";
const S3_ACCESS_KEY: &str = "AKIDSTORED";
const S3_SECRET: &str = "s3-STOREDS3SECRET-Nn53";

/// The attacker's server: accepts anything, keeps what it is sent, answers 401.
struct Attacker {
    origin: String,
    requests: Arc<Mutex<Vec<String>>>,
    connections: Arc<Mutex<usize>>,
    handle: tokio::task::JoinHandle<()>,
}

impl Attacker {
    async fn start() -> Attacker {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let connections: Arc<Mutex<usize>> = Arc::default();
        let (kept, counted) = (requests.clone(), connections.clone());
        let handle = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                *counted.lock().unwrap() += 1;
                let kept = kept.clone();
                tokio::spawn(async move {
                    let mut received = Vec::new();
                    let mut buf = vec![0u8; 64 * 1024];
                    // A request is whole once the client goes quiet.
                    while let Ok(Ok(n)) =
                        tokio::time::timeout(Duration::from_millis(500), socket.read(&mut buf))
                            .await
                    {
                        if n == 0 || received.len() > 1 << 20 {
                            break;
                        }
                        received.extend_from_slice(&buf[..n]);
                    }
                    kept.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&received).into_owned());
                    let _ = socket
                        .write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                });
            }
        });
        Attacker {
            origin,
            requests,
            connections,
            handle,
        }
    }

    fn connections(&self) -> usize {
        *self.connections.lock().unwrap()
    }

    fn received(&self) -> String {
        self.requests.lock().unwrap().join("\n----\n")
    }

    /// Stored secrets (or what only they can make) the attacker got.
    fn stolen(&self) -> Vec<&'static str> {
        let received = self.received();
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{OPENCAST_USER}:{OPENCAST_PASSWORD}"));
        let mut stolen = Vec::new();
        for (what, needle) in [
            ("the Opencast password", OPENCAST_PASSWORD.to_string()),
            ("Basic credentials with the Opencast password", basic),
            ("the Flow Capture API key", FLOW_API_KEY.to_string()),
            ("the S3 secret key", S3_SECRET.to_string()),
            (
                "a request signed with the stored S3 key",
                format!("Credential={S3_ACCESS_KEY}/"),
            ),
        ] {
            if received.contains(&needle) {
                stolen.push(what);
            }
        }
        stolen
    }
}

impl Drop for Attacker {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Opencast, Flow Capture and S3 with their secrets, all pointing at a closed port, and
/// the local publisher writing into `share`.
async fn configure_stored_secrets(d: &TestDaemon, share: &Path) {
    let closed = format!("http://127.0.0.1:{}", free_port());
    configure_publisher(
        d,
        "opencast",
        json!({"url": closed, "username": OPENCAST_USER, "password": OPENCAST_PASSWORD, "workflowID": "fast"}),
    )
    .await;
    configure_publisher(
        d,
        "flowcapture",
        json!({"baseUrl": format!("{closed}/api/v2"), "email": "cap@uni.example",
               "apiKey": FLOW_API_KEY, "projectID": "42"}),
    )
    .await;
    configure_publisher(
        d,
        "s3",
        json!({"endpoint": closed, "bucket": "lectures", "prefix": "lectures",
               "accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET}),
    )
    .await;
    configure_publisher(d, "local", json!({"path": share})).await;
}

async fn start_as(d: &TestDaemon, user: &str, request: Value) -> Reply {
    let body = request.to_string();
    d.post("/api/1/capture/start")
        .auth(user, PASSWORD)
        .form(&[("captureRequest", body.as_str())])
        .send()
        .await
}

async fn test_as(d: &TestDaemon, user: &str, publisher: &str, config: Value) -> Reply {
    let body = json!({"publisherID": publisher, "config": config}).to_string();
    d.post("/api/1/capture/publishing/test")
        .auth(user, PASSWORD)
        .form(&[("config", body.as_str())])
        .send()
        .await
}

async fn publish_as(d: &TestDaemon, user: &str, package_id: &str, request: Value) -> Reply {
    let body = request.to_string();
    d.post(&format!(
        "/api/1/capture/mediaPackages/{package_id}/publish"
    ))
    .auth(user, PASSWORD)
    .form(&[("publishRequest", body.as_str())])
    .send()
    .await
}

fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                todo.push(entry.path());
            }
            found.push(entry.path());
        }
    }
    found
}

#[tokio::test]
async fn capture_requests_below_administrator_cannot_point_publishing_elsewhere() {
    let d = TestDaemon::start().await;
    let attacker = Attacker::start().await;
    let share = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    configure_stored_secrets(&d, share.path()).await;
    small_template(&d).await;
    for (name, role) in [
        ("presenter", "Presenter"),
        ("viewer", "Status viewer"),
        ("editor", "Content manager"),
        ("planner", "Scheduler"),
    ] {
        d.create_user(name, role, PASSWORD).await;
    }
    let a = attacker.origin.as_str();
    let share_path = share.path().to_string_lossy().to_string();
    let refused = [
        (
            json!({"opencast": {"url": a}}),
            "publish.override_forbidden",
        ),
        (
            json!({"flowcapture": {"baseUrl": format!("{a}/api")}}),
            "publish.override_forbidden",
        ),
        (json!({"s3": {"endpoint": a}}), "publish.override_forbidden"),
        (
            json!({"s3": {"bucket": "elsewhere"}}),
            "publish.override_forbidden",
        ),
        (
            json!({"s3": {"region": "xx-east-9"}}),
            "publish.override_forbidden",
        ),
        (
            json!({"opencast": {"username": "other"}}),
            "publish.override_forbidden",
        ),
        (
            json!({"opencast": {"password": "guess-guess"}}),
            "publish.override_forbidden",
        ),
        (
            json!({"flowcapture": {"apiKey": "mine"}}),
            "publish.override_forbidden",
        ),
        (
            json!({"flowcapture": {"projectID": "7"}}),
            "publish.override_forbidden",
        ),
        (
            json!({"opencast": {"config": {"url": a}}}),
            "publish.override_forbidden",
        ),
        (
            json!([{"publisherID": "opencast", "config": {"url": a}}]),
            "publish.override_forbidden",
        ),
        (
            json!({"local": {"path": outside.path()}}),
            "publish.outside_configured",
        ),
        (
            json!({"local": {"path": format!("{share_path}/../x")}}),
            "publish.outside_configured",
        ),
        (
            json!({"s3": {"prefix": "other"}}),
            "publish.outside_configured",
        ),
    ];
    let mut tried = 0;
    for user in ["presenter", "viewer", "editor", "planner"] {
        for (overrides, code) in &refused {
            let request =
                json!({"templateID": "small", "duration": 2000, "publishingOverrides": overrides});
            let reply = start_as(&d, user, request).await;
            assert_eq!(
                (reply.status, reply.code()),
                (StatusCode::FORBIDDEN, *code),
                "{user} with {overrides}: {}",
                reply.text
            );
            tried += 1;
        }
    }
    for bad in [
        json!("nonsense"),
        json!({"youtube": {"url": a}}),
        json!({"local": {"subfolder": "../up"}}),
    ] {
        let request = json!({"templateID": "small", "publishingOverrides": bad});
        let reply = start_as(&d, "presenter", request).await;
        assert_eq!(
            (reply.status, reply.code()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "publish.invalid_overrides"
            ),
            "{bad}: {}",
            reply.text
        );
    }
    let status = d.get("/api/1/status/capture").admin().send().await.body;
    assert_eq!(status["state"], "idle", "nothing started: {status}");

    // A scheduled capture carries no overrides at all: a Scheduler cannot smuggle one in.
    let start = crate::store_now() + 3_600_000;
    let event = json!({"title": "Smuggled", "templateID": "small", "startTime": start,
        "stopTime": start + 60_000, "publishingOverrides": {"opencast": {"url": a}}})
    .to_string();
    let created = d
        .post("/api/1/scheduler/events")
        .auth("planner", PASSWORD)
        .form(&[("event", event.as_str())])
        .send()
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert!(!created.text.contains(a), "{}", created.text);

    // The harmless keys pass, and a folder below the configured one is used.
    let harmless = json!({
        "opencast": {"workflowID": "other", "workflowConfig": {"flagForReview": true}},
        "flowcapture": {"batchName": "Week 1"},
        "s3": {"prefix": "lectures/physics"},
        "local": {"path": share.path().join("term1"), "subfolder": "physics/{id}"},
    });
    let request = json!({"templateID": "small", "title": "Harmless", "duration": 2000,
        "publishingOverrides": harmless});
    let started = start_as(&d, "presenter", request).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let id = started.body["mediaPackageID"].as_str().unwrap().to_string();
    let package = finished_package(&d, &id).await;
    assert!(
        package.get("publishingOverridesByAdministrator").is_none(),
        "{package}"
    );
    wait_done(&d, &id, "local", Duration::from_secs(60)).await;
    let folder = share.path().join("term1/physics").join(&id);
    assert!(folder.join("manifest.json").is_file(), "{folder:?}");
    assert!(files_below(outside.path()).is_empty());

    eprintln!(
        "{tried} capture requests with overrides refused (403), the attacker's server had {} connections",
        attacker.connections()
    );
    assert_eq!(attacker.connections(), 0, "{}", attacker.received());
}

/// Overrides stored on a package by any other way (before these rules, or straight into
/// the database) are held to the harmless keys again when the package is published.
#[tokio::test]
async fn overrides_stored_on_an_old_package_cannot_redirect_its_upload() {
    let d = TestDaemon::start().await;
    let attacker = Attacker::start().await;
    let share = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    // Recorded before any publisher exists, so nothing publishes it by itself.
    let package = recorded_package(&d, 1).await;
    let id = package["id"].as_str().unwrap().to_string();
    configure_stored_secrets(&d, share.path()).await;
    d.create_user("editor", "Content manager", PASSWORD).await;

    let planted = json!({
        "opencast": {"url": attacker.origin},
        "flowcapture": {"baseUrl": format!("{}/api", attacker.origin)},
        "s3": {"endpoint": attacker.origin},
        "local": {"path": outside.path(), "subfolder": "kept/{id}"},
    });
    let conn = rusqlite::Connection::open(d.data_dir.join("castd.db")).unwrap();
    let changed = conn
        .execute(
            "UPDATE media_packages SET package = json_set(package, '$.request.publishingOverrides', json(?1)) WHERE id = ?2",
            rusqlite::params![planted.to_string(), id],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);

    let queued = publish_as(&d, "editor", &id, json!({})).await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text);
    assert_eq!(queued.body.as_array().unwrap().len(), 4, "{}", queued.text);
    wait_done(&d, &id, "local", Duration::from_secs(60)).await;
    // The harmless subfolder applies, the folder does not.
    assert!(
        share
            .path()
            .join("kept")
            .join(&id)
            .join("manifest.json")
            .is_file()
    );
    assert!(files_below(outside.path()).is_empty());
    // Each networked job made an attempt, at the configured (closed) address.
    for publisher in ["opencast", "flowcapture", "s3"] {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let jobs = crate::common::publish_jobs(&d, &id).await;
            let job = jobs.iter().find(|j| j["publisherID"] == publisher).unwrap();
            if job["lastError"].is_string() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{job}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    eprintln!(
        "planted overrides: the attacker's server had {} connections",
        attacker.connections()
    );
    assert_eq!(attacker.stolen(), Vec::<&str>::new());
    assert_eq!(attacker.connections(), 0, "{}", attacker.received());
    assert!(
        d.stderr()
            .contains("publishingOverrides for opencast not applied")
    );
}

#[tokio::test]
async fn a_content_manager_cannot_send_stored_secrets_to_another_server() {
    let d = TestDaemon::start().await;
    let attacker = Attacker::start().await;
    let share = tempfile::tempdir().unwrap();
    let package = recorded_package(&d, 1).await;
    let id = package["id"].as_str().unwrap().to_string();
    configure_stored_secrets(&d, share.path()).await;
    d.create_user("editor", "Content manager", PASSWORD).await;
    let a = attacker.origin.as_str();

    let refused = [
        ("opencast", json!({"url": a})),
        ("opencast", json!({"url": a, "password": "••••Kk31"})),
        ("opencast", json!({"url": a, "username": "other"})),
        ("flowcapture", json!({"baseUrl": format!("{a}/api")})),
        (
            "flowcapture",
            json!({"baseUrl": format!("{a}/api"), "apiKey": null}),
        ),
        ("s3", json!({"endpoint": a})),
        ("s3", json!({"endpoint": a, "accessKey": "AKIDATTACKER"})),
        (
            "s3",
            json!({"bucket": "attacker-bucket", "pathStyle": false}),
        ),
    ];
    for (publisher, config) in &refused {
        let reply = test_as(&d, "editor", publisher, config.clone()).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::FORBIDDEN, "publish.secret_required"),
            "test {publisher} {config}: {}",
            reply.text
        );
        let request = json!({"configs": [{"publisherID": publisher, "config": config}]});
        let reply = publish_as(&d, "editor", &id, request).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::FORBIDDEN, "publish.secret_required"),
            "publish {publisher} {config}: {}",
            reply.text
        );
    }
    assert_eq!(attacker.connections(), 0, "{}", attacker.received());

    // Harmless changes keep the stored secrets (the configured server is still asked).
    let reply = test_as(&d, "editor", "opencast", json!({"workflowID": "other"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["code"], "publish.unreachable", "{}", reply.text);

    // With secrets of their own, the other server is theirs to try: it gets those only.
    for (publisher, config) in [
        (
            "opencast",
            json!({"url": a, "password": "cm-OWNPASSWORD-1"}),
        ),
        (
            "flowcapture",
            json!({"baseUrl": format!("{a}/api"), "apiKey": "cm-OWNAPIKEY-2"}),
        ),
        (
            "s3",
            json!({"endpoint": a, "accessKey": "AKIDATTACKER", "secretKey": "cm-OWNSECRET-3"}),
        ),
    ] {
        let reply = test_as(&d, "editor", publisher, config).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["ok"], false, "{}", reply.text);
    }
    let received = attacker.received();
    let own_basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{OPENCAST_USER}:cm-OWNPASSWORD-1"));
    for own in [
        own_basic.as_str(),
        "cm-OWNAPIKEY-2",
        "Credential=AKIDATTACKER/",
    ] {
        assert!(received.contains(own), "{own} not received:\n{received}");
    }
    eprintln!(
        "{} tests and {} publish requests refused (403); with the caller's own secrets the \
         attacker's server had {} connections and none of the stored secrets",
        refused.len(),
        refused.len(),
        attacker.connections()
    );
    assert_eq!(attacker.stolen(), Vec::<&str>::new(), "{received}");
}

#[tokio::test]
async fn override_secrets_are_masked_in_answers_and_left_out_of_manifests() {
    let d = TestDaemon::start().await;
    let peer = opencast::Peer::start().await;
    let share = tempfile::tempdir().unwrap();
    configure_publisher(&d, "local", json!({"path": share.path()})).await;
    // A stored password that is wrong: only the override's is right.
    configure_publisher(
        &d,
        "opencast",
        json!({"url": peer.url, "username": opencast::USERNAME, "password": "oc-WRONGSTORED-x1"}),
    )
    .await;
    d.create_user("viewer", "Status viewer", PASSWORD).await;
    small_template(&d).await;
    let secrets = [
        opencast::PASSWORD,
        "s3-OVERRIDESECRET-Qq12",
        "fc-OVERRIDEAPIKEY-Rr34",
    ];
    let request = json!({"templateID": "small", "title": "Override secrets", "duration": 2000,
    "publishingOverrides": {
        "opencast": {"password": secrets[0]},
        "s3": {"config": {"secretKey": secrets[1]}},
        "flowcapture": {"apiKey": secrets[2]},
        "local": {"subfolder": "masked/{id}"},
    }});
    let started = crate::capture::start(&d, request).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let id = started.body["mediaPackageID"].as_str().unwrap().to_string();
    finished_package(&d, &id).await;
    wait_done(&d, &id, "local", Duration::from_secs(60)).await;
    // The secret is kept for publishing: the ingest signs in with it.
    let job = ended_job(&d, &id, "opencast", Duration::from_secs(120), |_| {}).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(peer.ingests().len(), 1);

    let mut places = Vec::new();
    for path in [
        format!("/api/1/capture/mediaPackages/{id}"),
        "/api/1/capture/mediaPackages".to_string(),
    ] {
        let reply = d.get(&path).auth("viewer", PASSWORD).send().await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert!(reply.text.contains("••••"), "masked: {}", reply.text);
        places.push((format!("GET {path}"), reply.text));
    }
    let package = d
        .get(&format!("/api/1/capture/mediaPackages/{id}"))
        .admin()
        .send()
        .await
        .body;
    assert_eq!(package["publishingOverridesByAdministrator"], true);
    assert_eq!(
        package["request"]["publishingOverrides"]["opencast"]["password"],
        "••••41e0"
    );
    let package_dir = PathBuf::from(package["root"].as_str().unwrap());
    let published = share.path().join("masked").join(&id);
    for manifest in [
        package_dir.join("manifest.json"),
        published.join("manifest.json"),
    ] {
        let text = std::fs::read_to_string(&manifest).unwrap();
        assert!(text.contains("publishingOverrides"), "{text}");
        assert!(!text.contains("••••"), "left out, not masked: {text}");
        places.push((manifest.display().to_string(), text));
    }
    let mut leaks = Vec::new();
    for (place, text) in &places {
        for secret in secrets {
            // A masked value keeps at most its last four characters.
            if text.contains(&secret[..secret.len() - 4]) {
                leaks.push(format!("{secret} in {place}"));
            }
        }
    }
    eprintln!(
        "{} secrets given as overrides, searched in {} places",
        secrets.len(),
        places.len()
    );
    assert!(leaks.is_empty(), "{leaks:#?}");
}

#[tokio::test]
async fn the_local_publisher_writes_only_below_its_folder_for_lower_roles() {
    let d = TestDaemon::start().await;
    let share = tempfile::tempdir().unwrap();
    let victim = tempfile::tempdir().unwrap();
    let package = recorded_package(&d, 1).await;
    let id = package["id"].as_str().unwrap().to_string();
    configure_publisher(&d, "local", json!({"path": share.path()})).await;
    d.create_user("editor", "Content manager", PASSWORD).await;
    std::fs::create_dir(share.path().join("term1")).unwrap();
    std::os::unix::fs::symlink(victim.path(), share.path().join("link")).unwrap();

    let share_text = share.path().to_string_lossy().to_string();
    let outside = [
        victim.path().to_string_lossy().to_string(),
        "/etc".to_string(),
        format!(
            "{share_text}/../{}",
            victim.path().file_name().unwrap().to_string_lossy()
        ),
        format!("{share_text}/term1/../.."),
        format!("{share_text}/link"),
        format!("{share_text}/link/deeper"),
        "relative/folder".to_string(),
    ];
    for path in &outside {
        let reply = test_as(&d, "editor", "local", json!({"path": path})).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::FORBIDDEN, "publish.outside_configured"),
            "test {path}: {}",
            reply.text
        );
        let request = json!({"configs": [{"publisherID": "local", "config": {"path": path}}]});
        let reply = publish_as(&d, "editor", &id, request).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::FORBIDDEN, "publish.outside_configured"),
            "publish {path}: {}",
            reply.text
        );
    }
    assert!(files_below(victim.path()).is_empty());

    // The configured folder and folders below it are fine.
    let reply = test_as(
        &d,
        "editor",
        "local",
        json!({"path": share.path().join("term1")}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["ok"], true, "{}", reply.text);
    let request = json!({"configs": [{"publisherID": "local",
        "config": {"path": share.path().join("term1/week2")}}]});
    let reply = publish_as(&d, "editor", &id, request).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    let job = wait_done(&d, &id, "local", Duration::from_secs(60)).await;
    let folder = share.path().join("term1/week2").join(&id);
    assert_eq!(job["url"], format!("file://{}", folder.display()));
    assert!(folder.join("manifest.json").is_file());
    assert!(files_below(victim.path()).is_empty());
    eprintln!(
        "{} local folders outside the share refused for testPublishing and publishing",
        outside.len()
    );
}

#[tokio::test]
async fn the_local_publisher_never_follows_links_planted_in_the_share() {
    let d = TestDaemon::start().await;
    let share = tempfile::tempdir().unwrap();
    let victim = tempfile::tempdir().unwrap();
    let package = recorded_package(&d, 1).await;
    let id = package["id"].as_str().unwrap().to_string();
    let second = recorded_package(&d, 1).await;
    let second_id = second["id"].as_str().unwrap().to_string();
    configure_publisher(&d, "local", json!({"path": share.path()})).await;
    let main = main_file(&package);
    let main_name = main.file_name().unwrap().to_string_lossy().to_string();

    // Links where the copy's temporary, the manifest's temporary and the files themselves
    // would be written (the names the publisher used to use), each to a file of the victim.
    let folder = share.path().join(&id);
    std::fs::create_dir(&folder).unwrap();
    let planted = [
        Path::new(&main_name)
            .with_extension("partial")
            .to_string_lossy()
            .to_string(),
        "manifest.tmp".to_string(),
        main_name.clone(),
        "manifest.json".to_string(),
    ];
    let mut victims = Vec::new();
    for (i, name) in planted.iter().enumerate() {
        let target = victim.path().join(format!("victim{i}"));
        let content = format!("victim file {i}, must stay as it is");
        std::fs::write(&target, &content).unwrap();
        std::os::unix::fs::symlink(&target, folder.join(name)).unwrap();
        victims.push((target, content));
    }
    publish(
        &d,
        &id,
        json!({"configs": [{"publisherID": "local", "config": {}}]}),
    )
    .await;
    wait_done(&d, &id, "local", Duration::from_secs(60)).await;
    let overwritten: Vec<String> = victims
        .iter()
        .filter(|(target, content)| std::fs::read(target).unwrap() != content.as_bytes())
        .map(|(target, _)| target.display().to_string())
        .collect();
    assert!(
        overwritten.is_empty(),
        "written through a link: {overwritten:?}"
    );
    let copy = folder.join(&main_name);
    assert!(copy.symlink_metadata().unwrap().file_type().is_file());
    assert_eq!(
        md5_hex(&std::fs::read(&copy).unwrap()),
        md5_hex(&std::fs::read(&main).unwrap())
    );
    let manifest = folder.join("manifest.json");
    assert!(manifest.symlink_metadata().unwrap().file_type().is_file());
    let temporaries: Vec<_> = files_below(&folder)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.starts_with('.') && !p.symlink_metadata().unwrap().file_type().is_symlink()
        })
        .collect();
    assert!(temporaries.is_empty(), "{temporaries:?}");

    // A package's folder that is a link to another folder: refused, nothing written there.
    let before = files_below(victim.path());
    std::os::unix::fs::symlink(victim.path(), share.path().join(&second_id)).unwrap();
    publish(
        &d,
        &second_id,
        json!({"configs": [{"publisherID": "local", "config": {}}]}),
    )
    .await;
    let job = ended_job(&d, &second_id, "local", Duration::from_secs(60), |_| {}).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["lastCode"], "publish.unsafe_target", "{job}");
    assert_eq!(files_below(victim.path()), before);
    eprintln!(
        "{} planted links and a linked package folder: no victim file changed, the linked \
         folder refused with {}",
        victims.len(),
        job["lastCode"]
    );
}
