//! The Opencast agent client against the Opencast protocol peer: signing in (Basic up front,
//! Digest with its challenge), the roles check, the registry in all its shapes, agent
//! state and configuration, recording states, and the calendar with its ETag and absolute
//! cutoff, read by castd's calendar parser.

use std::time::Duration;

use castd::opencast::agent::{self, AgentState, RecordingState};
use castd::opencast::calendar;
use castd::opencast::client::{AuthMethod, Client, Connection, Error, Fetched};
use castd::opencast::identity::Refusal;
use castd::opencast::registry::{CAPTURE_ADMIN, INGEST, SCHEDULER};
use reqwest::StatusCode;

use crate::peers::opencast_agent::{
    AGENT_PASSWORD, AGENT_USER, DIGEST_PASSWORD, DIGEST_USER, LECTURER_PASSWORD, LECTURER_USER,
    Peer, RegistryShape, Scheduled,
};

fn client(peer: &Peer, auth: AuthMethod, user: &str, password: &str) -> Client {
    Client::new(Connection {
        url: peer.url.parse().unwrap(),
        auth,
        username: user.into(),
        password: password.into(),
        timeout: Duration::from_secs(10),
    })
    .unwrap()
}

fn agent_client(peer: &Peer) -> Client {
    client(peer, AuthMethod::Basic, AGENT_USER, AGENT_PASSWORD)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn the_peer_behaves_as_opencasts_security_layer() {
    let peer = Peer::start().await;
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // /info/me.json answers anyone: a 200 proves nothing.
    let me = plain
        .get(format!("{}/info/me.json", peer.url))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["user"]["username"], "anonymous");
    // Without credentials, other endpoints redirect to the login page.
    let calendar = plain
        .get(format!("{}/recordings/calendars?agentid=x", peer.url))
        .send()
        .await
        .unwrap();
    assert_eq!(calendar.status(), StatusCode::FOUND);
    assert_eq!(calendar.headers()["location"], "/login.html");
    assert_eq!(peer.violations().len(), 1, "{:?}", peer.violations());
}

#[tokio::test]
async fn basic_is_sent_up_front_and_the_user_must_hold_an_agent_role() {
    let peer = Peer::start().await;
    let who = agent_client(&peer).whoami().await.unwrap();
    assert_eq!(who.username, AGENT_USER);
    assert!(who.roles.iter().any(|r| r == "ROLE_CAPTURE_AGENT"));

    let lecturer = client(&peer, AuthMethod::Basic, LECTURER_USER, LECTURER_PASSWORD);
    match lecturer.whoami().await {
        Err(Error::Role(Refusal::MissingRole { username, .. })) => {
            assert_eq!(username, LECTURER_USER)
        }
        other => panic!("a lecturer is no capture agent: {other:?}"),
    }
    let wrong = client(&peer, AuthMethod::Basic, AGENT_USER, "wrong");
    let error = wrong.whoami().await.unwrap_err();
    assert_eq!(error, Error::Unauthorized);
    assert_eq!(error.code(), "opencast.unauthorized");
    // A Digest-only user cannot sign in with Basic.
    let digest_as_basic = client(&peer, AuthMethod::Basic, DIGEST_USER, DIGEST_PASSWORD);
    assert_eq!(
        digest_as_basic.whoami().await.unwrap_err(),
        Error::Unauthorized
    );
    assert_eq!(
        peer.violations(),
        Vec::<String>::new(),
        "no request went out without credentials"
    );
}

#[tokio::test]
async fn digest_answers_the_challenge_counts_its_nonce_and_takes_a_stale_ones_successor() {
    let peer = Peer::start().await;
    let digest = client(&peer, AuthMethod::Digest, DIGEST_USER, DIGEST_PASSWORD);
    assert_eq!(digest.whoami().await.unwrap().username, DIGEST_USER);
    let capture_admin = digest.discover(CAPTURE_ADMIN).await.unwrap().remove(0);
    for state in [AgentState::Idle, AgentState::Capturing, AgentState::Idle] {
        digest
            .set_agent_state(&capture_admin, "castd-room101", state, None)
            .await
            .unwrap();
    }
    assert_eq!(
        peer.nonce_counts(),
        [5],
        "one challenge, its nonce used 5 times with nc 1 to 5"
    );
    peer.expire_nonces();
    digest
        .set_agent_state(&capture_admin, "castd-room101", AgentState::Idle, None)
        .await
        .unwrap();
    assert_eq!(peer.nonce_counts(), [5, 1], "the stale nonce was replaced");
    assert_eq!(peer.agent_states().len(), 4);

    let wrong = client(&peer, AuthMethod::Digest, DIGEST_USER, "wrong");
    assert_eq!(wrong.whoami().await.unwrap_err(), Error::Unauthorized);
    // A web UI user cannot use Digest (Opencast keeps Digest users in memory only).
    let basic_user = client(&peer, AuthMethod::Digest, AGENT_USER, AGENT_PASSWORD);
    assert_eq!(basic_user.whoami().await.unwrap_err(), Error::Unauthorized);
    assert_eq!(peer.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn the_registry_reads_as_an_object_an_array_or_nothing() {
    let peer = Peer::start().await;
    let c = agent_client(&peer);
    let one = c.discover(CAPTURE_ADMIN).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].as_str(), format!("{}/capture-admin", peer.url));

    peer.set_registry_shape(INGEST, RegistryShape::Array);
    let ingest = c.discover(INGEST).await.unwrap();
    assert_eq!(
        ingest.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        [format!("{}/ingest", peer.url)],
        "the offline worker is left out"
    );

    peer.set_registry_shape(SCHEDULER, RegistryShape::Empty);
    assert!(c.discover(SCHEDULER).await.unwrap().is_empty());
    assert_eq!(peer.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn agent_state_configuration_and_recording_states_reach_opencast() {
    let peer = Peer::start().await;
    let c = agent_client(&peer);
    let capture_admin = c.discover(CAPTURE_ADMIN).await.unwrap().remove(0);
    let name = agent::default_name("Hörsaal 101/B");
    c.set_agent_state(
        &capture_admin,
        &name,
        AgentState::Idle,
        Some("https://room101.example.edu:8443"),
    )
    .await
    .unwrap();
    let configuration = agent::configuration(&["camera".into(), "screen".into()], "Europe/Zurich");
    c.set_agent_configuration(&capture_admin, &name, &configuration)
        .await
        .unwrap();
    assert_eq!(
        peer.agent_states(),
        [(
            name.clone(),
            "idle".to_string(),
            Some("https://room101.example.edu:8443".to_string())
        )]
    );
    let (agent_name, properties) = peer.configurations().remove(0);
    assert_eq!(agent_name, name);
    assert_eq!(properties["capture.device.names"], "camera,screen");
    assert_eq!(properties["capture.device.timezone"], "Europe/Zurich");

    // Recording states: only for scheduled events; others are 404 → NotScheduled.
    let start = now_ms() + 3_600_000;
    peer.schedule(Scheduled {
        uid: "68b19d11-6aca-413e-b2b3-eda72eebc65a".into(),
        start_ms: start,
        end_ms: start + 3_600_000,
        title: "Linear Algebra 1".into(),
        properties: String::new(),
    });
    c.set_recording_state(
        &capture_admin,
        "68b19d11-6aca-413e-b2b3-eda72eebc65a",
        RecordingState::Capturing,
    )
    .await
    .unwrap();
    assert_eq!(
        c.set_recording_state(&capture_admin, "adhoc-1", RecordingState::Capturing)
            .await
            .unwrap_err(),
        Error::NotScheduled("adhoc-1".into())
    );
    assert_eq!(
        peer.recording_states(),
        [(
            "68b19d11-6aca-413e-b2b3-eda72eebc65a".to_string(),
            "capturing".to_string()
        )]
    );
    let order: Vec<String> = peer.seen().into_iter().map(|s| s.what).collect();
    assert_eq!(order, ["registry", "agent", "configuration", "recording"]);
    // The 404 was the only violation (the peer records it as a mistake an agent must avoid).
    assert_eq!(peer.violations().len(), 1, "{:?}", peer.violations());
}

#[tokio::test]
async fn the_calendar_comes_with_an_absolute_cutoff_and_its_etag_goes_back_exactly() {
    let peer = Peer::start().await;
    let c = agent_client(&peer);
    let scheduler = c.discover(SCHEDULER).await.unwrap().remove(0);
    assert!(scheduler.path().ends_with("/recordings"));
    let now = now_ms();
    let day = 86_400_000;
    let properties = "capture.device.names=camera\n\
                      org.opencastproject.workflow.definition=fast\n\
                      org.opencastproject.workflow.config.straightToPublishing=true\n";
    peer.schedule(Scheduled {
        uid: "running".into(),
        start_ms: now - 600_000,
        end_ms: now + 600_000,
        title: "Running, with a comma; and more".into(),
        properties: properties.into(),
    });
    peer.schedule(Scheduled {
        uid: "ended".into(),
        start_ms: now - 3_000_000,
        end_ms: now - 1_800_000,
        title: "Ended half an hour ago".into(),
        properties: String::new(),
    });
    peer.schedule(Scheduled {
        uid: "next-month".into(),
        start_ms: now + 30 * day,
        end_ms: now + 30 * day + 3_600_000,
        title: "Beyond the look-ahead".into(),
        properties: String::new(),
    });
    let cutoff = now + 14 * day;
    let Fetched::Calendar { etag, body } = c
        .calendar(&scheduler, "castd-room101", cutoff, None)
        .await
        .unwrap()
    else {
        panic!("the first fetch is a 200")
    };
    let etag = etag.expect("Opencast sends an ETag");
    assert!(etag.starts_with("mod"), "{etag}");
    let parsed = calendar::parse(&body).unwrap();
    let uids: Vec<&str> = parsed.events.iter().map(|e| e.uid.as_str()).collect();
    assert_eq!(
        uids.len(),
        2,
        "{uids:?}: the event beyond the cutoff is left out"
    );
    let to_record: Vec<&str> = parsed
        .to_record(now)
        .iter()
        .map(|e| e.uid.as_str())
        .collect();
    assert_eq!(
        to_record,
        ["running"],
        "the ended event is read but not recorded"
    );
    let running = &parsed.events[uids.iter().position(|u| *u == "running").unwrap()];
    assert_eq!(running.title, "Running, with a comma; and more");
    assert_eq!(running.properties.workflow.as_deref(), Some("fast"));
    assert_eq!(
        running
            .properties
            .inputs
            .as_ref()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        ["camera"]
    );

    // The same ETag back: 304, twice (the 304's own, quoted ETag is not taken).
    for _ in 0..2 {
        assert_eq!(
            c.calendar(&scheduler, "castd-room101", cutoff, Some(&etag))
                .await
                .unwrap(),
            Fetched::NotModified
        );
    }
    peer.unschedule("running");
    let Fetched::Calendar { etag: changed, .. } = c
        .calendar(&scheduler, "castd-room101", cutoff, Some(&etag))
        .await
        .unwrap()
    else {
        panic!("a changed schedule is a 200")
    };
    assert_ne!(changed.as_deref(), Some(etag.as_str()));
    let statuses: Vec<u16> = peer.calendar_requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 304, 304, 200]);
    assert!(
        peer.calendar_requests()
            .iter()
            .all(|r| r.cutoff_ms == cutoff)
    );

    // A relative cutoff ("14 days") is what the peer refuses, as it would return nothing.
    let error = c
        .calendar(&scheduler, "castd-room101", 14 * day, None)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Status(400, _)), "{error:?}");
    assert_eq!(peer.violations().len(), 1);
}
