//! Logins as an attacker on the network sends them: bursts of parallel guesses, floods of
//! unknown users from many addresses, thousands of clients logging in again at once after
//! the credential cache was dropped, and good logins mixed with bad ones. What each may
//! cost is counted (password verifications run, memory of the daemon), not timed.
//!
//! Each burst first opens one connection per client (an unauthenticated `/health`), so the
//! logins then arrive at the daemon together instead of trickling in behind TCP set-up.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{ADMIN_PASSWORD, Options, TestDaemon};
use crate::events::EventStream;

/// A daemon with the shipped login limits (10 failures per address, 20 per user) unless
/// `auth` (lines of the `[auth]` section) says otherwise.
async fn start(auth: &str) -> TestDaemon {
    let mut section = auth.to_string();
    for (key, shipped) in [
        ("max_failures_per_address", 10),
        ("max_failures_per_user", 20),
    ] {
        if !auth.contains(key) {
            section.push_str(&format!("\n{key} = {shipped}"));
        }
    }
    // The bursts open up to 500 connections from one address: the connection caps (their own
    // tests are in `hostile_http`) are raised so that these tests meet the login limits only.
    TestDaemon::start_with(Options {
        config_toml: format!(
            "[auth]\n{section}\n[capture]\nkeep_inputs_hot = false\n\
             [http]\nmax_connections = 4096\nmax_connections_per_address = 2048\n"
        ),
        ..Options::default()
    })
    .await
}

/// A client whose connections come from `ip`, with one connection already open.
async fn client_from(d: &TestDaemon, ip: &str) -> reqwest::Client {
    let client = castd::http_client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap();
    let warm = client
        .get(format!("{}/api/1/health", d.url))
        .send()
        .await
        .expect("health answers");
    assert_eq!(warm.status(), StatusCode::OK);
    client
}

/// `count` clients, each from its own loopback address (127.0.`third`.1 onwards).
async fn clients(d: &TestDaemon, third: u8, count: usize) -> Vec<reqwest::Client> {
    let mut all = Vec::with_capacity(count);
    for i in 0..count {
        let (hi, lo) = (third as usize + i / 250, 1 + i % 250);
        all.push(client_from(d, &format!("127.0.{hi}.{lo}")).await);
    }
    all
}

/// How a burst was answered.
#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    unauthorized: usize,
    throttled: usize,
    busy: usize,
    /// Anything else: status and body.
    other: Vec<String>,
    /// Requests that got no answer at all.
    errors: usize,
    busy_without_retry_after: usize,
}

impl Tally {
    fn total(&self) -> usize {
        self.ok + self.unauthorized + self.throttled + self.busy + self.other.len() + self.errors
    }
}

/// Sends every request at once; `(client, user, password)` each.
async fn burst(
    path: &str,
    d: &TestDaemon,
    logins: Vec<(reqwest::Client, String, String)>,
) -> Tally {
    let url = format!("{}{path}", d.url);
    let tasks: Vec<_> = logins
        .into_iter()
        .map(|(client, user, password)| {
            let url = url.clone();
            tokio::spawn(async move {
                let response = client
                    .get(&url)
                    .basic_auth(user, Some(password))
                    .send()
                    .await
                    .ok()?;
                let status = response.status();
                let retry_after = response.headers().contains_key("retry-after");
                // Event streams never end: the status is all that counts.
                let text = if status == StatusCode::OK {
                    String::new()
                } else {
                    response.text().await.unwrap_or_default()
                };
                Some((status, retry_after, text))
            })
        })
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        match task.await.unwrap() {
            None => tally.errors += 1,
            Some((status, retry_after, text)) => {
                let code = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v["code"].as_str().map(str::to_string))
                    .unwrap_or_default();
                match (status, code.as_str()) {
                    (StatusCode::OK, _) => tally.ok += 1,
                    (StatusCode::UNAUTHORIZED, "auth.invalid_credentials") => {
                        tally.unauthorized += 1
                    }
                    (StatusCode::TOO_MANY_REQUESTS, "auth.throttled") => tally.throttled += 1,
                    (StatusCode::SERVICE_UNAVAILABLE, "auth.busy") => {
                        tally.busy += 1;
                        tally.busy_without_retry_after += usize::from(!retry_after);
                    }
                    _ => tally.other.push(format!("{status} {text}")),
                }
            }
        }
    }
    tally
}

/// The daemon's counter of password verifications (argon2 runs), scraped as admin; NaN
/// (which fails every comparison) when the daemon does not count them.
async fn verifications(d: &TestDaemon) -> f64 {
    let reply = d.get("/api/1/metrics").admin().send().await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply
        .text
        .lines()
        .find_map(|l| l.strip_prefix("castd_password_verifications_total "))
        .map_or(f64::NAN, |v| v.trim().parse().unwrap())
}

/// A field of `/proc/<pid>/status` in MiB (`VmRSS`, `VmHWM`).
fn memory_mib(d: &TestDaemon, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.child().id())).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/<pid>/status"));
    kib / 1024.0
}

/// Samples the daemon's resident memory every 50 ms until dropped; the highest value seen.
struct RssWatch {
    peak: std::sync::Arc<std::sync::Mutex<f64>>,
    task: tokio::task::JoinHandle<()>,
}

impl RssWatch {
    fn start(d: &TestDaemon) -> RssWatch {
        let pid = d.child().id();
        let peak = std::sync::Arc::new(std::sync::Mutex::new(0.0_f64));
        let seen = peak.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    && let Some(kib) = status
                        .lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                {
                    let mut peak = seen.lock().unwrap();
                    *peak = peak.max(kib / 1024.0);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        RssWatch { peak, task }
    }

    fn peak(&self) -> f64 {
        *self.peak.lock().unwrap()
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn status_as(client: &reqwest::Client, d: &TestDaemon, user: &str, pw: &str) -> StatusCode {
    client
        .get(format!("{}/api/1/status/capture", d.url))
        .basic_auth(user, Some(pw))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn parallel_guesses_are_checked_only_up_to_the_address_and_user_limits() {
    let d = start("base_lockout_secs = 60").await;
    d.create_user("victim", "Presenter", "victim-password")
        .await;
    let before = verifications(&d).await;

    // 500 guesses at once from one address: at most 10 may be checked.
    let attacker = client_from(&d, "127.0.3.1").await;
    let guesses = (0..500)
        .map(|i| (attacker.clone(), "victim".to_string(), format!("guess-{i}")))
        .collect();
    let one_address = burst("/api/1/status/capture", &d, guesses).await;
    let after_one = verifications(&d).await;
    eprintln!(
        "500 parallel guesses from one address: {} checked (401), {} refused (429), {} busy (503), \
         {} no answer; {} password verifications",
        one_address.unauthorized,
        one_address.throttled,
        one_address.busy,
        one_address.errors,
        after_one - before
    );
    assert!(one_address.other.is_empty(), "{:?}", one_address.other);
    assert_eq!(one_address.ok, 0);
    assert!(
        one_address.unauthorized <= 10,
        "{} guesses checked, the limit is 10 per address",
        one_address.unauthorized
    );
    assert!(
        after_one - before <= 10.0,
        "{} verifications",
        after_one - before
    );
    assert!(after_one - before >= 1.0, "some guesses were checked");

    // The same user from 50 more addresses, 10 other guesses each, all at once: the user's
    // limit (20, some of them used above) holds across addresses.
    let many = clients(&d, 7, 50).await;
    let guesses = many
        .iter()
        .enumerate()
        .flat_map(|(n, c)| {
            (0..10).map(move |i| (c.clone(), "victim".to_string(), format!("spray-{n}-{i}")))
        })
        .collect();
    let many_addresses = burst("/api/1/status/capture", &d, guesses).await;
    let after_many = verifications(&d).await;
    eprintln!(
        "500 parallel guesses from 50 addresses: {} checked (401), {} refused (429), {} busy (503); \
         {} password verifications in all for the user",
        many_addresses.unauthorized,
        many_addresses.throttled,
        many_addresses.busy,
        after_many - before
    );
    assert!(
        many_addresses.other.is_empty(),
        "{:?}",
        many_addresses.other
    );
    assert!(
        one_address.unauthorized + many_addresses.unauthorized <= 20,
        "{} guesses checked for one user, the limit is 20",
        one_address.unauthorized + many_addresses.unauthorized
    );
    assert!(
        after_many - before <= 20.0,
        "{} verifications",
        after_many - before
    );

    // Another user is not affected by the victim's lock.
    let bystander = client_from(&d, "127.0.9.1").await;
    assert_eq!(
        status_as(&bystander, &d, "admin", ADMIN_PASSWORD).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_flood_of_unknown_users_from_many_addresses_keeps_memory_bounded() {
    // Every login of the room panel is verified afresh, as right after a cache drop.
    let d = start("credential_cache_secs = 0").await;
    d.create_user("panel", "Presenter", "panel-password").await;
    d.create_user("late", "Presenter", "late-password").await;
    let panel = client_from(&d, "127.0.0.30").await;
    assert_eq!(
        status_as(&panel, &d, "panel", "panel-password").await,
        StatusCode::OK
    );
    let before_verifications = verifications(&d).await;

    let attackers = clients(&d, 10, 500).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = memory_mib(&d, "VmRSS");
    let watch = RssWatch::start(&d);
    let logins = attackers
        .iter()
        .enumerate()
        .map(|(i, c)| (c.clone(), format!("ghost-{i}"), format!("password-{i}")))
        .collect();
    let started = Instant::now();
    let flood = {
        let d = &d;
        let panel = &panel;
        let flood = burst("/api/1/status/capture", d, logins);
        // The room panel logs in while the flood is queued.
        let panel_login = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            status_as(panel, d, "panel", "panel-password").await
        };
        let (flood, panel_status) = tokio::join!(flood, panel_login);
        assert_eq!(
            panel_status,
            StatusCode::OK,
            "a user that logged in from its address before keeps working during the flood"
        );
        flood
    };
    let took = started.elapsed();
    let peak = watch.peak();
    drop(watch);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = memory_mib(&d, "VmRSS");
    let checked = verifications(&d).await - before_verifications;
    eprintln!(
        "500 unknown users from 500 addresses at once: {} refused as 401, {} busy (503), \
         {} throttled, {} no answer, in {:.1} s; {checked} password verifications; \
         RSS {rss_before:.0} MiB before, peak {peak:.0} MiB, {rss_after:.0} MiB 2 s after \
         (VmHWM {:.0} MiB)",
        flood.unauthorized,
        flood.busy,
        flood.throttled,
        flood.errors,
        took.as_secs_f64(),
        memory_mib(&d, "VmHWM"),
    );
    assert!(flood.other.is_empty(), "{:?}", flood.other);
    assert_eq!(flood.ok, 0);
    assert_eq!(flood.total(), 500);
    assert!(
        flood.busy > 0,
        "more logins than the verification queue holds get 503 auth.busy: {flood:?}"
    );
    assert_eq!(flood.busy_without_retry_after, 0, "503 carries Retry-After");
    assert!(
        peak - rss_before < 150.0,
        "resident memory grew by {:.0} MiB during the flood",
        peak - rss_before
    );

    // A user that never logged in before is verified as soon as the flood is over.
    let late = client_from(&d, "127.0.0.31").await;
    assert_eq!(
        status_as(&late, &d, "late", "late-password").await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn clients_logging_in_again_after_a_user_change_cost_one_verification_per_password() {
    let d = start("").await;
    d.create_user("panel", "Presenter", "panel-password").await;
    let other = d.create_user("other", "Presenter", "other-password").await;
    let readers = clients(&d, 20, 100).await;
    assert_eq!(
        status_as(&readers[0], &d, "panel", "panel-password").await,
        StatusCode::OK
    );
    let before = verifications(&d).await;

    // Any change to any user drops the credential cache; then 500 event streams of the same
    // room-panel account reconnect at once from 100 addresses.
    let change = json!({"roles": ["Scheduler"]}).to_string();
    let reply = d
        .admin_post(
            &format!("/api/1/users/{other}"),
            &[("user", change.as_str())],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = memory_mib(&d, "VmRSS");
    let watch = RssWatch::start(&d);
    let logins = readers
        .iter()
        .flat_map(|c| (0..5).map(move |_| (c.clone(), "panel".into(), "panel-password".into())))
        .collect();
    let reconnect = burst("/api/1/events", &d, logins).await;
    let peak = watch.peak();
    drop(watch);
    // The admin's scrape verifies the admin once more (the change dropped its cache too).
    let checked = verifications(&d).await - before - 1.0;
    eprintln!(
        "500 event streams of one account reconnecting after a user change: {} opened, \
         {} busy, {} throttled; {checked} password verifications; RSS {rss_before:.0} MiB \
         before, peak {peak:.0} MiB",
        reconnect.ok, reconnect.busy, reconnect.throttled
    );
    assert!(reconnect.other.is_empty(), "{:?}", reconnect.other);
    assert_eq!(reconnect.ok, 500, "{reconnect:?}");
    assert_eq!(checked, 1.0, "one verification for one password");
    assert!(
        peak - rss_before < 150.0,
        "resident memory grew by {:.0} MiB",
        peak - rss_before
    );
}

#[tokio::test]
async fn a_changed_or_deleted_user_loses_its_event_stream_at_once() {
    let d = start("").await;
    let alice = d.create_user("alice", "Presenter", "alice-password").await;
    let bob = d.create_user("bob", "Presenter", "bob-password").await;
    let carol = d.create_user("carol", "Presenter", "carol-password").await;
    let open = |user: &'static str, password: &'static str| {
        let request = d.get("/api/1/events").auth(user, password);
        async move { EventStream::read(request.send_streaming().await) }
    };
    let mut admin_stream = EventStream::read(d.get("/api/1/events").admin().send_streaming().await);
    let mut alice_stream = open("alice", "alice-password").await;
    let mut bob_stream = open("bob", "bob-password").await;
    let mut carol_stream = open("carol", "carol-password").await;

    // A password change.
    let reply = d
        .admin_post(
            &format!("/api/1/users/{alice}"),
            &[("user", "{}"), ("password", "alice-new-password")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let last = alice_stream.next(Duration::from_secs(10)).await;
    assert_eq!(last.event.as_deref(), Some("revoked"), "{last:?}");
    assert!(alice_stream.ends_within(Duration::from_secs(10)).await);

    // A role change.
    let change = json!({"roles": ["Scheduler"]}).to_string();
    let reply = d
        .admin_post(
            &format!("/api/1/users/{carol}"),
            &[("user", change.as_str())],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(carol_stream.ends_within(Duration::from_secs(10)).await);

    // A deletion.
    let reply = d
        .delete(&format!("/api/1/users/{bob}"))
        .admin()
        .send()
        .await;
    assert!(reply.status.is_success(), "{} {}", reply.status, reply.text);
    assert!(bob_stream.ends_within(Duration::from_secs(10)).await);

    // Streams of users that did not change go on.
    assert!(!admin_stream.ends_within(Duration::from_secs(2)).await);
    // The old password opens nothing any more.
    let reply = d
        .get("/api/1/events")
        .auth("alice", "alice-password")
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn good_logins_between_wrong_guesses_do_not_reset_the_address_count() {
    // Every good login is verified afresh, so each one would have cleared the count.
    let d = start("max_failures_per_user = 1000\ncredential_cache_secs = 0").await;
    d.create_user("insider", "Presenter", "insider-password")
        .await;
    let attacker = client_from(&d, "127.0.5.1").await;
    let mut checked = 0;
    let mut refused_at = None;
    for round in 0..30 {
        // The attacker's own account logs in fine...
        let good = status_as(&attacker, &d, "insider", "insider-password").await;
        if good == StatusCode::TOO_MANY_REQUESTS {
            refused_at = Some(round);
            break;
        }
        assert_eq!(good, StatusCode::OK);
        // ...between guesses at the administrator's password.
        match status_as(&attacker, &d, "admin", &format!("guess-{round}")).await {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                refused_at = Some(round);
                break;
            }
            other => panic!("unexpected {other}"),
        }
    }
    eprintln!(
        "alternating good logins and guesses: {checked} guesses checked, then {refused_at:?}"
    );
    assert!(
        checked <= 10,
        "{checked} guesses checked, the limit is 10 per address"
    );
    assert!(refused_at.is_some(), "the address was never throttled");
}
