//! The schedule over HTTP: rules and conflicts, groups, calendar export and import, and
//! real scheduled recordings (start time against the file, restarts, missed windows).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::capture::{ffprobe, finished_package, main_file, seconds, small_template, stream};
use crate::common::{Options, Reply, TestDaemon, signal};
use crate::store_now;

const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;

async fn schedule(d: &TestDaemon, event: Value) -> Reply {
    let body = event.to_string();
    d.admin_post("/api/1/scheduler/events", &[("event", body.as_str())])
        .await
}

async fn event(d: &TestDaemon, id: &str) -> Value {
    d.get(&format!("/api/1/scheduler/events/{id}"))
        .admin()
        .send()
        .await
        .body
}

/// Polls an event until `done` says so (in real time, up to `secs`).
async fn event_until(d: &TestDaemon, id: &str, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let e = event(d, id).await;
        if done(&e) {
            return e;
        }
        assert!(Instant::now() < deadline, "event {id} never got there: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn id_of(reply: &Reply) -> String {
    reply.body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", reply.text))
        .to_string()
}

#[tokio::test]
async fn events_are_checked_conflicts_named_and_groups_expanded() {
    let d = TestDaemon::start().await;
    let base = (store_now() / HOUR + 2) * HOUR;

    let a = schedule(&d, json!({"title": "Algebra", "templateID": "Lecture", "startTime": base, "stopTime": base + HOUR, "tags": ["maths"]})).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.body["templateID"], "lecture", "names are stored as ids");
    assert_eq!(
        (a.body["outcome"].as_str(), a.body["started"].as_bool()),
        (Some("pending"), Some(false))
    );
    let a_id = id_of(&a);

    let clash = schedule(&d, json!({"title": "Clash", "templateID": "lecture", "startTime": base + 30 * MIN, "stopTime": base + 90 * MIN})).await;
    assert_eq!(
        (clash.status, clash.code()),
        (StatusCode::CONFLICT, "schedule.overlap"),
        "{}",
        clash.text
    );
    assert_eq!(clash.body["params"]["eventID"], a_id.as_str());
    assert!(clash.body["message"].as_str().unwrap().contains("Algebra"));

    for (bad, field) in [
        (
            json!({"templateID": "lecture", "startTime": base + 5 * HOUR, "stopTime": base + 4 * HOUR}),
            "stopTime",
        ),
        (
            json!({"templateID": "lecture", "startTime": base + 5 * HOUR, "stopTime": base + 5 * HOUR + 5000}),
            "stopTime",
        ),
        (
            json!({"templateID": "lecture", "startTime": base + 5 * HOUR, "stopTime": base + 30 * HOUR}),
            "stopTime",
        ),
        (
            json!({"templateID": "lecture", "startTime": base - 10 * HOUR, "stopTime": base - 9 * HOUR}),
            "stopTime",
        ),
        (
            json!({"templateID": "no such template", "startTime": base + 5 * HOUR, "stopTime": base + 6 * HOUR}),
            "templateID",
        ),
        (
            json!({"title": "x\u{7}y", "templateID": "lecture", "startTime": base + 5 * HOUR, "stopTime": base + 6 * HOUR}),
            "title",
        ),
    ] {
        let r = schedule(&d, bad.clone()).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "schedule.invalid"),
            "{bad}: {}",
            r.text
        );
        assert_eq!(r.body["params"]["field"], field, "{bad}: {}", r.text);
    }
    let missing = d
        .admin_post(
            "/api/1/scheduler/events",
            &[("event", "{\"title\": \"x\"}")],
        )
        .await;
    assert_eq!(
        missing.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        missing.text
    );
    let not_json = d
        .admin_post("/api/1/scheduler/events", &[("event", "{nope")])
        .await;
    assert_eq!(
        (not_json.status, not_json.code()),
        (StatusCode::BAD_REQUEST, "request.malformed_json")
    );

    // Moving an event onto another is refused the same way; moving it elsewhere works.
    let b = schedule(&d, json!({"title": "Biology", "templateID": "lecture", "startTime": base + 2 * HOUR, "stopTime": base + 3 * HOUR})).await;
    let b_id = id_of(&b);
    let onto = d
        .admin_post(
            &format!("/api/1/scheduler/events/{b_id}"),
            &[("event", &json!({"startTime": base + 30 * MIN}).to_string())],
        )
        .await;
    assert_eq!(onto.code(), "schedule.overlap", "{}", onto.text);
    let moved = d
        .admin_post(
            &format!("/api/1/scheduler/events/{b_id}"),
            &[(
                "event",
                &json!({"startTime": base + HOUR, "title": "Biology II", "outcome": "completed"})
                    .to_string(),
            )],
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    assert_eq!(
        (moved.body["title"].as_str(), moved.body["outcome"].as_str()),
        (Some("Biology II"), Some("pending"))
    );
    assert_eq!(
        moved.body["stopTime"],
        base + 3 * HOUR,
        "fields not named keep their value"
    );

    // A template with scheduled events cannot be deleted.
    let del = d
        .delete("/api/1/capture/templates/lecture")
        .admin()
        .send()
        .await;
    assert_eq!(
        (del.status, del.code()),
        (StatusCode::CONFLICT, "templates.in_use"),
        "{}",
        del.text
    );

    // A weekly series in Berlin, across the change to summer time, one week left out.
    let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    use chrono::{Datelike, TimeZone, Timelike};
    let year = chrono::Utc::now().year() + 1;
    let first = berlin
        .with_ymd_and_hms(year, 3, 10, 10, 0, 0)
        .unwrap()
        .timestamp_millis();
    let skipped = berlin
        .with_ymd_and_hms(year, 3, 17, 10, 0, 0)
        .unwrap()
        .timestamp_millis();
    let group = json!({
        "title": "Mechanics", "templateID": "lecture", "timezone": "Europe/Berlin", "rrule": "FREQ=WEEKLY;COUNT=6",
        "startTime": first, "duration": 90 * MIN, "exceptions": [skipped], "tags": ["physics"]
    })
    .to_string();
    let g = d
        .admin_post("/api/1/scheduler/groups", &[("group", group.as_str())])
        .await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.text);
    let g_id = id_of(&g);
    let events = g.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 5, "six weeks minus the exception");
    for e in events {
        let local = chrono::Utc
            .timestamp_millis_opt(e["startTime"].as_i64().unwrap())
            .unwrap()
            .with_timezone(&berlin);
        assert_eq!((local.hour(), local.minute()), (10, 0), "{e}");
        assert_eq!(e["groupID"], g_id.as_str());
        assert_eq!(
            e["stopTime"].as_i64().unwrap() - e["startTime"].as_i64().unwrap(),
            90 * MIN
        );
    }
    let listed = d
        .get(&format!("/api/1/scheduler/events?groupID={g_id}"))
        .admin()
        .send()
        .await;
    assert_eq!(listed.headers["x-total-count"], "5");
    let changed = d
        .admin_post(
            &format!("/api/1/scheduler/groups/{g_id}"),
            &[(
                "group",
                &json!({"rrule": "FREQ=WEEKLY;COUNT=3"}).to_string(),
            )],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.body["events"].as_array().unwrap().len(), 2);
    assert_eq!(
        changed.body["events"][0]["id"], events[0]["id"],
        "an unmoved occurrence keeps its id"
    );
    let bad_rule = json!({"rrule": "FREQ=FORTNIGHTLY", "templateID": "lecture", "startTime": first, "duration": HOUR});
    let bad_rule = d
        .admin_post(
            "/api/1/scheduler/groups",
            &[("group", &bad_rule.to_string())],
        )
        .await;
    assert_eq!(
        (bad_rule.code(), bad_rule.body["params"]["field"].as_str()),
        ("schedule.invalid", Some("rrule"))
    );

    assert_eq!(
        d.delete(&format!("/api/1/scheduler/groups/{g_id}"))
            .admin()
            .send()
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let gone = d
        .get(&format!("/api/1/scheduler/groups/{g_id}/events"))
        .admin()
        .send()
        .await;
    assert_eq!(
        (gone.status, gone.code()),
        (StatusCode::NOT_FOUND, "schedule.group_not_found")
    );
    let listed = d.get("/api/1/scheduler/events").admin().send().await;
    assert_eq!(listed.headers["x-total-count"], "2", "{}", listed.text);

    // Today's schedule: midnight to midnight in the unit's zone.
    let today = d.get("/api/1/status/schedule").admin().send().await;
    assert_eq!(today.status, StatusCode::OK);
    let zone: chrono_tz::Tz = d.get("/api/1/status/unit").admin().send().await.body["timezone"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let day = |ms: i64| {
        chrono::Utc
            .timestamp_millis_opt(ms)
            .unwrap()
            .with_timezone(&zone)
            .date_naive()
    };
    let expected: Vec<&str> = [(base, a_id.as_str()), (base + HOUR, b_id.as_str())]
        .into_iter()
        .filter(|(start, _)| day(*start) == day(store_now()))
        .map(|(_, id)| id)
        .collect();
    let got: Vec<&str> = today
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, expected);

    assert_eq!(
        d.delete(&format!("/api/1/scheduler/events/{a_id}"))
            .admin()
            .send()
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let gone = d
        .get(&format!("/api/1/scheduler/events/{a_id}"))
        .admin()
        .send()
        .await;
    assert_eq!(
        (gone.status, gone.code()),
        (StatusCode::NOT_FOUND, "schedule.not_found")
    );
}

#[tokio::test]
async fn the_calendar_round_trips_and_a_broken_one_imports_nothing() {
    let d = TestDaemon::start().await;
    let base = (store_now() / HOUR + 3) * HOUR;
    for (i, title) in ["Algebra; part 1", "Biology, with notes", "Chemistry"]
        .iter()
        .enumerate()
    {
        let start = base + i as i64 * 2 * HOUR;
        let r = schedule(&d, json!({"title": title, "templateID": "lecture", "startTime": start, "stopTime": start + HOUR, "tags": ["t1", "year 2"]})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let before = d.get("/api/1/scheduler/events").admin().send().await.body;
    let export = d.get("/api/1/scheduler/calendar.ics").admin().send().await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(
        export.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let ics = export.text.clone();
    assert!(
        ics.starts_with("BEGIN:VCALENDAR\r\n") && ics.ends_with("END:VCALENDAR\r\n"),
        "{ics}"
    );
    assert_eq!(ics.matches("BEGIN:VEVENT").count(), 3);
    assert!(ics.contains(&format!("UID:{}", before[0]["id"].as_str().unwrap())));
    assert!(
        ics.contains("SUMMARY:Algebra\\; part 1") && ics.contains("CATEGORIES:t1,year 2"),
        "{ics}"
    );

    for e in before.as_array().unwrap() {
        let id = e["id"].as_str().unwrap();
        assert_eq!(
            d.delete(&format!("/api/1/scheduler/events/{id}"))
                .admin()
                .send()
                .await
                .status,
            StatusCode::NO_CONTENT
        );
    }
    let imported = d
        .admin_post("/api/1/scheduler/calendar", &[("ics", ics.as_str())])
        .await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.text);
    assert_eq!(
        imported.body["created"].as_array().unwrap().len(),
        3,
        "{}",
        imported.text
    );
    let after = d.get("/api/1/scheduler/events").admin().send().await.body;
    let fields = |events: &Value| -> Vec<Value> {
        events
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                json!([
                    e["id"],
                    e["title"],
                    e["templateID"],
                    e["startTime"],
                    e["stopTime"],
                    e["tags"]
                ])
            })
            .collect()
    };
    assert_eq!(fields(&after), fields(&before));

    // The same calendar again, from a URL this time: nothing changes. The server is on
    // loopback, which calendar import reaches only when the setting allows it.
    let allowed = d
        .admin_post(
            "/api/1/settings/calendarImportAllowedHosts",
            &[("value", "127.0.0.1")],
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.text);
    let server = serve_once(ics.clone()).await;
    let again = d
        .admin_post("/api/1/scheduler/calendar", &[("url", server.as_str())])
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(
        again.body["unchanged"].as_array().unwrap().len(),
        3,
        "{}",
        again.text
    );
    assert!(again.body["created"].as_array().unwrap().is_empty());

    // Broken documents are refused whole: nothing half-imported.
    let future = base + 20 * HOUR;
    let stamp = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .format("%Y%m%dT%H%M%SZ")
            .to_string()
    };
    let truncated = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:new@lms\r\nDTSTART:{}\r\nDTEND:{}\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:broken@lms\r\n",
        stamp(future),
        stamp(future + HOUR)
    );
    for bad in ["hello", truncated.as_str()] {
        let r = d
            .admin_post("/api/1/scheduler/calendar", &[("ics", bad)])
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "calendar.invalid"),
            "{}",
            r.text
        );
    }
    let r = d
        .admin_post(
            "/api/1/scheduler/calendar",
            &[("url", "file:///etc/passwd")],
        )
        .await;
    assert_eq!(
        (r.code(), r.body["params"]["field"].as_str()),
        ("schedule.invalid", Some("url"))
    );
    let r = d
        .admin_post(
            "/api/1/scheduler/calendar",
            &[("url", "http://127.0.0.1:9/none.ics")],
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_GATEWAY, "calendar.fetch_failed"),
        "{}",
        r.text
    );
    let r = d.admin_post("/api/1/scheduler/calendar", &[]).await;
    assert_eq!(r.code(), "request.missing_param");
    let count = d
        .get("/api/1/scheduler/events")
        .admin()
        .send()
        .await
        .headers["x-total-count"]
        .clone();
    assert_eq!(count, "3");
}

/// Serves `body` as text/calendar to one request on loopback; the URL.
async fn serve_once(body: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/lectures.ics", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = vec![0u8; 4096];
        let n = socket.read(&mut request).await.unwrap();
        assert!(String::from_utf8_lossy(&request[..n]).starts_with("GET /lectures.ics HTTP/1.1"));
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/calendar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(body.as_bytes()).await.unwrap();
    });
    url
}

/// Inputs kept hot, as on a real unit, so the scheduled start only opens a gate.
fn hot() -> Options {
    Options {
        config_toml:
            "[auth]\nmax_failures_per_address = 100000\n[capture]\nkeep_inputs_hot = true\n".into(),
        ..Options::default()
    }
}

#[tokio::test]
async fn a_scheduled_event_records_from_its_start_time_to_its_stop_time() {
    let d = TestDaemon::start_with(hot()).await;
    small_template(&d).await;
    let start = store_now() + 3000;
    let stop = start + 10_000;
    let r = schedule(&d, json!({"title": "Scheduled", "templateID": "small", "startTime": start, "stopTime": stop, "tags": ["auto"]})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = id_of(&r);

    let recording = event_until(&d, &id, 20, |e| e["outcome"] == "recording").await;
    let status = d.get("/api/1/status/capture").admin().send().await.body;
    assert_eq!(status["eventID"], id.as_str(), "{status}");
    assert_eq!(status["templateID"], "small");
    let first_frame = status["startTime"].as_i64().unwrap();
    println!(
        "scheduled start: first recorded frame {} ms after startTime (hot start: {})",
        first_frame - start,
        status["hotStart"]
    );
    assert!(
        first_frame >= start,
        "started {} ms early",
        start - first_frame
    );
    assert_eq!(
        status["remaining"]
            .as_i64()
            .map(|r| r <= stop - store_now() + 50),
        Some(true),
        "{status}"
    );

    let done = event_until(&d, &id, 30, |e| e["completed"] == true).await;
    assert_eq!(done["outcome"], "completed", "{done}");
    assert!(done["started"].as_bool().unwrap());
    let package_id = done["mediaPackageID"].as_str().unwrap();
    assert_eq!(recording["mediaPackageID"], package_id);
    let package = finished_package(&d, package_id).await;
    assert_eq!(
        (package["eventID"].as_str(), package["title"].as_str()),
        (Some(id.as_str()), Some("Scheduled"))
    );
    assert_eq!(package["tags"], json!(["auto"]));
    // The event's publishing flags (left out, so true) reach the capture request.
    for flag in [
        "publishing",
        "publishingRedundantCopies",
        "publishingSpeakerFiles",
        "publishingSpeakerInformation",
        "publishingTableOfContents",
    ] {
        assert_eq!(package["request"][flag], true, "{flag}: {package}");
    }
    let probe = ffprobe(&main_file(&package));
    let (video, audio) = (stream(&probe, "video"), stream(&probe, "audio"));
    let length = seconds(&probe["format"]["duration"]);
    let expected = (stop - first_frame) as f64 / 1000.0;
    println!(
        "scheduled recording: {length:.3} s in the file, {expected:.3} s from first frame to stopTime"
    );
    assert!(
        (length - expected).abs() < 0.3,
        "file {length} s, window {expected} s"
    );
    assert!((seconds(&video["duration"]) - seconds(&audio["duration"])).abs() < 0.05);
}

#[tokio::test]
async fn a_restart_inside_the_window_records_the_rest_and_a_passed_window_is_missed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut d = TestDaemon::start_in(&data, &Options::default());
    small_template(&d).await;
    let t = store_now();
    let a = id_of(&schedule(&d, json!({"title": "A", "templateID": "small", "startTime": t + 2000, "stopTime": t + 18_000})).await);
    let b = id_of(&schedule(&d, json!({"title": "B", "templateID": "small", "startTime": t + 20_000, "stopTime": t + 30_000})).await);
    event_until(&d, &a, 20, |e| e["outcome"] == "recording").await;
    // Long enough for a couple of fragments (the small template has a keyframe every 2 s).
    tokio::time::sleep(Duration::from_secs(4)).await;

    // A crash in the middle of the recording.
    signal(d.child(), nix::sys::signal::Signal::SIGKILL);
    d.stop_within(Duration::from_secs(5));
    let mut d = TestDaemon::start_in(&data, &Options::default());
    let resumed = event_until(&d, &a, 20, |e| {
        e["mediaPackageIDs"]
            .as_array()
            .is_some_and(|p| p.len() == 2)
    })
    .await;
    assert_eq!(resumed["outcome"], "recording", "{resumed}");
    assert_eq!(resumed["outcomeReason"], "resumed after castd restarted");
    let done = event_until(&d, &a, 30, |e| e["completed"] == true).await;
    assert_eq!(done["outcome"], "partial", "{done}");
    let packages: Vec<String> = done["mediaPackageIDs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert_ne!(packages[0], packages[1]);
    for p in &packages {
        let package = finished_package(&d, p).await;
        assert_eq!(package["eventID"], a.as_str());
        let probe = ffprobe(&main_file(&package));
        assert!(seconds(&probe["format"]["duration"]) > 1.0, "{p}: {probe}");
    }

    // Down for the whole of B's window.
    assert!(
        d.stop_within(Duration::from_secs(5))
            .is_some_and(|s| s.success())
    );
    let wait = (t + 30_500 - store_now()).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let d = TestDaemon::start_in(&data, &Options::default());
    let missed = event_until(&d, &b, 10, |e| e["outcome"] != "pending").await;
    assert_eq!(missed["outcome"], "missed", "{missed}");
    assert_eq!(missed["started"], false);
    let status = d.get("/api/1/status/capture").admin().send().await.body;
    assert_eq!(
        status["state"], "idle",
        "nothing started for a passed window: {status}"
    );
}

#[tokio::test]
async fn a_manual_capture_keeps_an_event_waiting_and_deleting_a_running_event_stops_it() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let manual = crate::capture::start(&d, json!({"templateID": "small", "title": "Manual"})).await;
    assert_eq!(manual.status, StatusCode::CREATED, "{}", manual.text);
    let t = store_now();
    let e = id_of(&schedule(&d, json!({"title": "Waits", "templateID": "small", "startTime": t + 1000, "stopTime": t + 60_000})).await);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        event(&d, &e).await["outcome"],
        "pending",
        "it waits while the manual capture runs"
    );
    crate::capture::action(&d, "stop").await;
    let started = event_until(&d, &e, 20, |v| v["outcome"] == "recording").await;
    assert!(
        started["outcomeReason"]
            .as_str()
            .unwrap()
            .ends_with("late (busy)"),
        "{started}"
    );

    let deleted = d
        .delete(&format!("/api/1/scheduler/events/{e}"))
        .admin()
        .send()
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    let status = d.get("/api/1/status/capture").admin().send().await.body;
    assert_ne!(status["state"], "capturing", "{status}");
    let package = finished_package(&d, started["mediaPackageID"].as_str().unwrap()).await;
    assert_eq!(
        package["state"], "complete",
        "the recording is kept: {package}"
    );
}
