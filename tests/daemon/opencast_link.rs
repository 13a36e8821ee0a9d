//! The Opencast link through castd's API: the Administrator's configuration (write-only
//! password, every field checked, nothing changed by a refused update) and the connection
//! test against the Opencast protocol peer (roles checked, services discovered and kept).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Reply, TestDaemon};
use crate::peers::opencast_agent::{
    AGENT_PASSWORD, AGENT_USER, DIGEST_PASSWORD, DIGEST_USER, LECTURER_PASSWORD, LECTURER_USER,
    Peer, RegistryShape,
};

async fn configure(d: &TestDaemon, config: Value) -> Reply {
    d.post("/api/1/opencast/config")
        .admin()
        .form(&[("config", config.to_string().as_str())])
        .send()
        .await
}

async fn stored(d: &TestDaemon) -> Value {
    let reply = d.get("/api/1/opencast/config").admin().send().await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body
}

async fn test_link(d: &TestDaemon) -> Reply {
    d.post("/api/1/opencast/test").admin().send().await
}

#[tokio::test]
async fn an_administrator_configures_the_link_and_the_password_never_comes_back() {
    let d = TestDaemon::start().await;
    let initial = stored(&d).await;
    assert_eq!(initial["config"]["enabled"], false, "{initial}");
    assert_eq!(initial["config"]["auth"], "basic");
    let name = initial["config"]["agentName"].as_str().unwrap().to_string();
    assert!(name.starts_with("castd-"), "{name}");
    assert_eq!(initial["endpoints"], json!({}));

    let secret = "s3cret-agent-password";
    let saved = configure(
        &d,
        json!({"url": "https://oc.example.edu", "username": "agent", "password": secret,
               "pollSecs": 30, "flavors": {"recording": "presentation/source"}}),
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    assert!(!saved.text.contains(secret), "{}", saved.text);
    let now = stored(&d).await;
    assert!(!now.to_string().contains(secret), "{now}");
    assert_eq!(now["config"]["url"], "https://oc.example.edu");
    assert_eq!(now["config"]["pollSecs"], 30);
    assert_eq!(
        now["config"]["agentName"],
        name.as_str(),
        "unnamed fields stay"
    );
    assert_eq!(now["config"]["flavors"]["recording"], "presentation/source");
    // The mask sent back keeps the stored password (checked below by signing in).
    let masked = now["config"]["password"].as_str().unwrap().to_string();
    assert_ne!(masked, secret);

    // Refused updates name the field and change nothing.
    for (update, field) in [
        (json!({"pollSecs": 1}), "pollSecs"),
        (json!({"bogus": true}), "bogus"),
        (json!({"auth": "ntlm"}), "auth"),
        (json!({"url": "ftp://oc.example.edu"}), "url"),
        (json!({"agentName": "room 101/../x"}), "agentName"),
        (
            json!({"flavors": {"recording": "not a flavor"}}),
            "flavors.recording",
        ),
    ] {
        let refused = configure(&d, update.clone()).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{update}: {}",
            refused.text
        );
        assert_eq!(
            refused.code(),
            "opencast.invalid_config",
            "{}",
            refused.text
        );
        assert_eq!(
            refused.body["params"]["field"].as_str(),
            Some(field),
            "{update}: {}",
            refused.text
        );
    }
    // Malformed parameters are refused before anything is read into the configuration.
    for (body, code) in [
        ("config=not-json", "request.bad_param"),
        ("config=%7B%22url%22", "request.malformed_json"),
        ("config=%5B1%2C2%5D", "request.bad_param"),
        ("config=%22text%22", "request.bad_param"),
        ("other=1", "request.missing_param"),
    ] {
        let reply = d
            .post("/api/1/opencast/config")
            .admin()
            .raw("application/x-www-form-urlencoded", body)
            .send()
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.text
        );
        assert_eq!(reply.code(), code, "{body}: {}", reply.text);
    }
    assert_eq!(stored(&d).await, now, "nothing changed");

    // Only an Administrator reads or changes it.
    for role in ["Scheduler", "Content manager", "Presenter", "Status viewer"] {
        let user = format!("user-{}", role.replace(' ', "-").to_lowercase());
        d.create_user(&user, role, "role-password").await;
        for (method, path) in [
            ("GET", "/api/1/opencast/config"),
            ("POST", "/api/1/opencast/config"),
            ("POST", "/api/1/opencast/test"),
        ] {
            let request = if method == "GET" {
                d.get(path)
            } else {
                d.post(path)
                    .form(&[("config", r#"{"url":"http://127.0.0.1:1"}"#)])
            };
            let reply = request.auth(&user, "role-password").send().await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{role} {method} {path}"
            );
        }
    }
    assert_eq!(stored(&d).await, now, "lower roles changed nothing");
}

#[tokio::test]
async fn the_connection_test_checks_the_roles_and_keeps_the_services_it_finds() {
    let d = TestDaemon::start().await;
    let not_yet = test_link(&d).await;
    assert_eq!(not_yet.status, StatusCode::CONFLICT, "{}", not_yet.text);
    assert_eq!(not_yet.code(), "opencast.not_configured");

    let peer = Peer::start().await;
    // A user Opencast signs in but who holds no agent role: a 200 from /info/me.json is
    // not taken as success.
    let saved = configure(
        &d,
        json!({"url": peer.url, "username": LECTURER_USER, "password": LECTURER_PASSWORD}),
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    let refused = test_link(&d).await;
    assert_eq!(refused.status, StatusCode::BAD_GATEWAY, "{}", refused.text);
    assert_eq!(refused.body["params"]["code"], "opencast.missing_role");

    // A wrong password.
    configure(&d, json!({"username": AGENT_USER, "password": "wrong"})).await;
    let wrong = test_link(&d).await;
    assert_eq!(
        wrong.body["params"]["code"], "opencast.unauthorized",
        "{}",
        wrong.text
    );

    // The agent user; the registry answers an object, an array and an empty list.
    peer.set_registry_shape(castd_ingest(), RegistryShape::Array);
    configure(&d, json!({"password": AGENT_PASSWORD})).await;
    let ok = test_link(&d).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.body["username"], AGENT_USER);
    assert!(
        ok.body["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "ROLE_CAPTURE_AGENT"),
        "{}",
        ok.text
    );
    for service in ["captureAdmin", "scheduler", "ingest"] {
        let url = ok.body["endpoints"][service].as_str().unwrap_or_default();
        assert!(url.starts_with(&peer.url), "{service}: {}", ok.text);
    }
    assert_eq!(ok.body["missing"], json!([]));
    let kept = stored(&d).await;
    assert_eq!(
        kept["endpoints"]["ingest"]["url"], ok.body["endpoints"]["ingest"],
        "{kept}"
    );

    // A service the registry does not list, unless an override names it.
    peer.set_registry_shape(castd_ingest(), RegistryShape::Empty);
    let partial = test_link(&d).await;
    assert_eq!(partial.status, StatusCode::OK, "{}", partial.text);
    assert_eq!(partial.body["missing"], json!(["ingest"]));
    assert!(stored(&d).await["endpoints"].get("ingest").is_none());
    let balancer = "https://ingest.example.edu/ingest";
    configure(&d, json!({"serviceOverrides": {"ingest": balancer}})).await;
    let overridden = test_link(&d).await;
    assert_eq!(
        overridden.body["endpoints"]["ingest"], balancer,
        "{}",
        overridden.text
    );

    // Digest with an in-memory capture-agent user.
    configure(
        &d,
        json!({"auth": "digest", "username": DIGEST_USER, "password": DIGEST_PASSWORD}),
    )
    .await;
    let digest = test_link(&d).await;
    assert_eq!(digest.status, StatusCode::OK, "{}", digest.text);
    assert_eq!(digest.body["username"], DIGEST_USER);
    assert!(peer.violations().is_empty(), "{:?}", peer.violations());

    // Nobody listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    configure(&d, json!({"url": format!("http://127.0.0.1:{port}")})).await;
    let down = test_link(&d).await;
    assert_eq!(down.status, StatusCode::BAD_GATEWAY, "{}", down.text);
    assert_eq!(down.body["params"]["code"], "opencast.unreachable");
}

fn castd_ingest() -> &'static str {
    castd::opencast::registry::INGEST
}
