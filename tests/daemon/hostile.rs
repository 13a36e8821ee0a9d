//! Hostile input: paths that try to leave the media directory, file names that try to
//! inject headers, absurd numbers, unicode, oversized and malformed bodies. Each gets a
//! clear 4xx with a stable code and the daemon keeps answering. The fuzz corpus kept in
//! `fuzz/corpus/` is replayed here too, with mutated inputs, through the same entry points
//! the fuzz targets call.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::capture::{action, finished_package, small_template, start};
use crate::common::{Reply, TestDaemon};

/// The daemon still answers, and with its usual content.
async fn still_answers(d: &TestDaemon) {
    let health = d.get("/api/1/health").send().await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.text);
    let status = d.get("/api/1/status/capture").admin().send().await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.text);
}

fn assert_refused(reply: &Reply, what: &str, codes: &[&str]) {
    assert!(
        reply.status.is_client_error(),
        "{what}: {} {}",
        reply.status,
        reply.text
    );
    assert!(
        codes.contains(&reply.code()),
        "{what}: code {:?} not in {codes:?}: {}",
        reply.code(),
        reply.text
    );
}

/// Records a short package with the small template and returns its id, once finished.
async fn recorded_package(d: &TestDaemon) -> String {
    small_template(d).await;
    let reply = start(d, json!({"templateID": "small", "title": "Hostile"})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let id = reply.body["sessionID"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // While recording, sessionOutput refuses everything but the node's own files.
    for bad in [
        "..%2F..%2Fcastd.db",
        "..%2Fmanifest.json",
        "%2Fetc%2Fpasswd",
        "recording.mp4%2F..%2F..%2F..%2Fcastd.db",
        "%2E%2E",
        "recording.mp4%0D%0AX-Injected:%201",
    ] {
        let reply = d
            .get(&format!("/api/1/sessionOutput/recording/{bad}"))
            .admin()
            .send()
            .await;
        assert_refused(
            &reply,
            &format!("sessionOutput {bad}"),
            &["packages.no_output", "packages.bad_path", "route.not_found"],
        );
        let reply = d
            .get(&format!("/api/1/sessionOutput/{bad}/recording.mp4"))
            .admin()
            .send()
            .await;
        assert_refused(
            &reply,
            &format!("sessionOutput node {bad}"),
            &["packages.no_output", "packages.bad_path", "route.not_found"],
        );
    }
    assert_eq!(action(d, "stop").await.status, StatusCode::OK);
    let package = finished_package(d, &id).await;
    assert_eq!(package["state"], "complete", "{package}");
    id
}

fn package_dir(d: &TestDaemon, id: &str) -> PathBuf {
    d.data_dir.join("media").join(id)
}

#[tokio::test]
async fn file_routes_refuse_traversal_symlinks_and_header_injection() {
    let d = TestDaemon::start().await;
    let id = recorded_package(&d).await;
    let dir = package_dir(&d, &id);
    std::fs::write(d.data_dir.join("outside.txt"), "secret outside the package").unwrap();
    std::os::unix::fs::symlink(d.data_dir.join("outside.txt"), dir.join("link-out")).unwrap();
    std::os::unix::fs::symlink(d.data_dir.join("castd.db"), dir.join("db-link")).unwrap();
    std::os::unix::fs::symlink("/etc", dir.join("etc-dir")).unwrap();

    // attachOutput: files outside the package, however they are spelled, and links out.
    for file in [
        "../../outside.txt",
        "../../castd.db",
        "/etc/passwd",
        "link-out",
        "db-link",
        "etc-dir/passwd",
        "./../../outside.txt",
        "recording.mp4/../../../outside.txt",
        "..",
        "",
        "recording.mp4\0.txt",
    ] {
        let output = json!({"entry": "stolen", "type": "text/plain", "file": file}).to_string();
        let reply = d
            .admin_post(
                &format!("/api/1/capture/mediaPackages/{id}/outputs"),
                &[("output", output.as_str())],
            )
            .await;
        assert_refused(
            &reply,
            &format!("attachOutput {file:?}"),
            &["packages.bad_path", "packages.invalid"],
        );
    }
    let package = d
        .get(&format!("/api/1/capture/mediaPackages/{id}"))
        .admin()
        .send()
        .await;
    assert!(
        package.body["outputs"].get("stolen").is_none(),
        "{}",
        package.text
    );

    // downloadOutput: entries are names, never paths.
    for entry in [
        "..%2F..%2Fcastd.db",
        "..%2Foutside.txt",
        "%2Fetc%2Fpasswd",
        "..",
        "link-out",
        "manifest.json",
    ] {
        let reply = d
            .get(&format!(
                "/api/1/capture/mediaPackages/{id}/outputs/{entry}"
            ))
            .admin()
            .send()
            .await;
        assert_refused(
            &reply,
            &format!("downloadOutput {entry}"),
            // A client may normalise `..` away, leaving a path no route has.
            &["packages.no_output", "packages.bad_path", "route.not_found"],
        );
    }
    for bad_id in ["..", "..%2F..%2Fdata", "%2Fetc", "x%00"] {
        let reply = d
            .get(&format!(
                "/api/1/capture/mediaPackages/{bad_id}/outputs/recording"
            ))
            .admin()
            .send()
            .await;
        assert_refused(
            &reply,
            &format!("downloadOutput id {bad_id}"),
            &[
                "packages.not_found",
                "packages.bad_path",
                "request.bad_path_param",
                "route.not_found",
            ],
        );
    }

    // A stored output whose file was swapped for a link out is not followed.
    let real = dir.join("recording.mp4");
    let saved = dir.join("recording.saved");
    std::fs::rename(&real, &saved).unwrap();
    std::os::unix::fs::symlink(d.data_dir.join("outside.txt"), &real).unwrap();
    let reply = d
        .get(&format!(
            "/api/1/capture/mediaPackages/{id}/outputs/recording"
        ))
        .admin()
        .send()
        .await;
    assert!(
        !reply.text.contains("secret outside"),
        "a link out was followed"
    );
    assert_refused(&reply, "swapped link", &["packages.bad_path"]);
    std::fs::remove_file(&real).unwrap();
    std::fs::rename(&saved, &real).unwrap();

    // A file name made to break the Content-Disposition header.
    let evil = "a\"; filename*=UTF-8''x.sh\r\nX-Injected: 1\r\n\r\n<html>.txt";
    std::fs::write(dir.join(evil), "harmless").unwrap();
    let output = json!({"entry": "notes", "type": "text/plain", "file": evil}).to_string();
    let reply = d
        .admin_post(
            &format!("/api/1/capture/mediaPackages/{id}/outputs"),
            &[("output", output.as_str())],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let reply = d
        .get(&format!("/api/1/capture/mediaPackages/{id}/outputs/notes"))
        .admin()
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text, "harmless");
    assert!(reply.headers.get("x-injected").is_none());
    let disposition = reply.headers["content-disposition"].to_str().unwrap();
    assert_eq!(disposition.matches('"').count(), 2, "{disposition}");
    assert!(!disposition.contains("filename*"), "{disposition}");
    // A MIME type that tries the same is refused.
    let output =
        json!({"entry": "x", "type": "text/plain\r\nX-Injected: 1", "file": "recording.mp4"})
            .to_string();
    let reply = d
        .admin_post(
            &format!("/api/1/capture/mediaPackages/{id}/outputs"),
            &[("output", output.as_str())],
        )
        .await;
    assert_refused(&reply, "MIME injection", &["packages.invalid"]);

    // restore: archive entries that point outside, absolute, or are links.
    for (name, kind) in [
        ("../../escaped.txt", tar::EntryType::Regular),
        ("/tmp/castd-restore-escaped.txt", tar::EntryType::Regular),
        ("castd.db", tar::EntryType::Symlink),
        ("castd.db", tar::EntryType::Link),
    ] {
        let archive = hostile_archive(name, kind);
        let reply = d
            .post("/api/1/maintenance/restore")
            .admin()
            .raw("application/octet-stream", archive)
            .send()
            .await;
        assert_refused(&reply, &format!("restore {name}"), &["backup.invalid"]);
    }
    assert!(!d.data_dir.join("../escaped.txt").exists());
    assert!(!d.data_dir.join("escaped.txt").exists());
    assert!(!Path::new("/tmp/castd-restore-escaped.txt").exists());
    still_answers(&d).await;
}

/// A tar archive with a valid manifest and one entry named `name` of `kind` (links point
/// at /etc/passwd). Names are written raw: the tar crate refuses `..` when building.
fn hostile_archive(name: &str, kind: tar::EntryType) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let manifest = json!({"format": "castd-backup", "formatVersion": 1, "schemaVersion": 1})
        .to_string()
        .into_bytes();
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest.len() as u64);
    header.set_mode(0o600);
    tar.append_data(&mut header, "manifest.json", manifest.as_slice())
        .unwrap();
    let body = b"SQLite format 3\0 not really".to_vec();
    let mut header = tar::Header::new_old();
    header.set_entry_type(kind);
    header.set_mode(0o600);
    if kind == tar::EntryType::Regular {
        header.set_size(body.len() as u64);
    } else {
        header.set_size(0);
        header.set_link_name("/etc/passwd").unwrap();
    }
    let raw = &mut header.as_old_mut().name;
    raw.fill(0);
    raw[..name.len()].copy_from_slice(name.as_bytes());
    header.set_cksum();
    if kind == tar::EntryType::Regular {
        tar.append(&header, body.as_slice()).unwrap();
    } else {
        tar.append(&header, std::io::empty()).unwrap();
    }
    tar.into_inner().unwrap()
}

#[tokio::test]
async fn absurd_numbers_unicode_huge_and_malformed_bodies_get_clear_4xx() {
    let d = TestDaemon::start().await;
    small_template(&d).await;

    // Durations: negative, zero, 2^63 - 1, 2^63 (not an i64), fractions, words.
    for (duration, codes) in [
        ("-1", &["capture.invalid_request"][..]),
        ("0", &["capture.invalid_request"]),
        ("9223372036854775807", &["capture.invalid_request"]),
        ("-9223372036854775808", &["capture.invalid_request"]),
        (
            "9223372036854775808",
            &["validation.invalid_field", "request.bad_param"],
        ),
        (
            "1e400",
            &["validation.invalid_field", "request.malformed_json"],
        ),
        ("1.5", &["validation.invalid_field"]),
        ("\"soon\"", &["validation.invalid_field"]),
    ] {
        let body = format!(r#"{{"templateID":"small","duration":{duration}}}"#);
        let reply = d
            .admin_post("/api/1/capture/start", &[("captureRequest", body.as_str())])
            .await;
        assert_refused(&reply, &format!("duration {duration}"), codes);
    }
    let reply = d
        .admin_post(
            "/api/1/capture/extend",
            &[("duration", "-9223372036854775808")],
        )
        .await;
    assert!(reply.status.is_client_error(), "{}", reply.text);

    // Tags: 51 are too many; a million do not fit the body limit.
    let tags: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
    let body = json!({"templateID": "small", "tags": tags}).to_string();
    let reply = d
        .admin_post("/api/1/capture/start", &[("captureRequest", body.as_str())])
        .await;
    assert_refused(&reply, "51 tags", &["capture.invalid_request"]);
    let million = format!(
        r#"captureRequest={{"templateID":"small","tags":[{}"t"]}}"#,
        "\"t\",".repeat(1_000_000)
    );
    let answer = raw_upload(
        &d,
        "/api/1/capture/start",
        "application/x-www-form-urlencoded",
        million.as_bytes(),
        false,
    )
    .await;
    assert_too_large(&answer, "a million tags");

    // Schedule times at the ends of i64 and beyond.
    for (start_time, stop_time) in [
        ("-1", "10000"),
        ("9223372036854775807", "-9223372036854775808"),
        ("9223372036854000000", "9223372036854775807"),
        ("1", "9223372036854775807"),
        ("9223372036854775808", "1"),
        ("1e300", "2e300"),
    ] {
        let body = format!(
            r#"{{"title":"x","templateID":"small","startTime":{start_time},"stopTime":{stop_time}}}"#
        );
        let reply = d
            .admin_post("/api/1/scheduler/events", &[("event", body.as_str())])
            .await;
        assert_refused(
            &reply,
            &format!("event {start_time}..{stop_time}"),
            &["schedule.invalid", "validation.invalid_field"],
        );
    }
    let group = json!({"title": "x", "templateID": "small", "rrule": "FREQ=SECONDLY",
        "startTime": crate::store_now() + 3_600_000, "duration": 10_000})
    .to_string();
    let reply = d
        .admin_post("/api/1/scheduler/groups", &[("group", group.as_str())])
        .await;
    // Occurrences every second overlap each other; either way it is refused, quickly.
    assert_refused(
        &reply,
        "secondly group",
        &["schedule.invalid", "schedule.overlap"],
    );

    // A rule with text the recurrence parser slices by bytes (it used to panic: a 500).
    let group = json!({"title": "x", "templateID": "small", "rrule": "FREQ=WEEKLY;BYDAY=€;COUNT=3",
        "startTime": crate::store_now() + 3_600_000, "duration": 10_000})
    .to_string();
    let reply = d
        .admin_post("/api/1/scheduler/groups", &[("group", group.as_str())])
        .await;
    assert_refused(&reply, "non-ASCII rrule", &["schedule.invalid"]);

    // Limits and offsets: huge, negative and not numbers.
    for path in ["/api/1/capture/mediaPackages", "/api/1/scheduler/events"] {
        for query in [
            "limit=-1",
            "limit=9223372036854775807",
            "offset=9223372036854775807",
            "offset=-9223372036854775808",
            "limit=0&offset=0",
        ] {
            let reply = d.get(&format!("{path}?{query}")).admin().send().await;
            assert_eq!(
                reply.status,
                StatusCode::OK,
                "{path}?{query}: {}",
                reply.text
            );
            assert!(reply.body.is_array(), "{path}?{query}: {}", reply.text);
        }
        for query in [
            "limit=99999999999999999999",
            "limit=abc",
            "offset=1.5",
            "limit=%FF",
        ] {
            let reply = d.get(&format!("{path}?{query}")).admin().send().await;
            assert_refused(
                &reply,
                &format!("{path}?{query}"),
                &["request.bad_param", "request.malformed_form"],
            );
        }
    }

    // Unicode titles round-trip exactly: astral planes, combining marks, right-to-left.
    let title = "Vorlesung Ωμέγα 📹 — 講義 e\u{301} \u{202E}olleh \u{FEFF}Ж";
    let event = json!({"title": title, "templateID": "small",
        "startTime": crate::store_now() + 7_200_000, "stopTime": crate::store_now() + 7_300_000})
    .to_string();
    let reply = d
        .admin_post("/api/1/scheduler/events", &[("event", event.as_str())])
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let event_id = reply.body["id"].as_str().unwrap().to_string();
    let back = d
        .get(&format!("/api/1/scheduler/events/{event_id}"))
        .admin()
        .send()
        .await;
    assert_eq!(back.body["title"], title, "{}", back.text);
    let ics = d.get("/api/1/scheduler/calendar.ics").admin().send().await;
    assert!(ics.text.contains("📹"), "{}", ics.text);
    let unit = d
        .admin_post("/api/1/settings/unitName", &[("value", title)])
        .await;
    assert!(
        unit.status == StatusCode::OK || unit.code() == "settings.invalid_value",
        "{}",
        unit.text
    );
    for bad in ["a\u{0}b", "line\r\nbreak"] {
        let event = json!({"title": bad, "templateID": "small",
            "startTime": crate::store_now() + 9_000_000, "stopTime": crate::store_now() + 9_100_000})
        .to_string();
        let reply = d
            .admin_post("/api/1/scheduler/events", &[("event", event.as_str())])
            .await;
        assert_refused(&reply, &format!("title {bad:?}"), &["schedule.invalid"]);
    }

    // 10 MB bodies: with a length, chunked, and as JSON.
    let ten_mb = "a".repeat(10 * 1024 * 1024);
    let form = format!("captureRequest={ten_mb}");
    for chunked in [false, true] {
        let answer = raw_upload(
            &d,
            "/api/1/capture/start",
            "application/x-www-form-urlencoded",
            form.as_bytes(),
            chunked,
        )
        .await;
        assert_too_large(&answer, &format!("10 MB form, chunked: {chunked}"));
    }
    let json_body = format!(r#"{{"event":{{"title":"{ten_mb}"}}}}"#);
    for chunked in [false, true] {
        let answer = raw_upload(
            &d,
            "/api/1/scheduler/events",
            "application/json",
            json_body.as_bytes(),
            chunked,
        )
        .await;
        assert_too_large(&answer, &format!("10 MB JSON, chunked: {chunked}"));
    }

    // Malformed JSON in form fields names the field.
    for (field, value) in [
        ("captureRequest", r#"{"title":"#),
        ("captureRequest", r#"{"title":"x"}}"#),
        ("captureRequest", r#"[1,2"#),
        ("captureRequest", "{\"title\":\"\u{0}\"\u{0}}"),
        (
            "captureRequest",
            r#"{"tags":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#,
        ),
    ] {
        let reply = d
            .admin_post("/api/1/capture/start", &[(field, value)])
            .await;
        assert_refused(
            &reply,
            &format!("{field}={value}"),
            &[
                "request.malformed_json",
                "validation.invalid_field",
                "request.bad_param",
            ],
        );
        assert_eq!(reply.body["params"]["param"], field, "{}", reply.text);
    }
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let reply = d
        .post("/api/1/capture/start")
        .admin()
        .raw(
            "application/json",
            format!(r#"{{"captureRequest":{deep}}}"#),
        )
        .send()
        .await;
    assert_refused(
        &reply,
        "100 000 nested arrays",
        &[
            "request.malformed_json",
            "validation.invalid_field",
            "request.body_too_large",
        ],
    );
    for body in ["{", "[]", "null", "\"x\"", "{\"a\":1,}"] {
        let reply = d
            .post("/api/1/capture/start")
            .admin()
            .raw("application/json", body)
            .send()
            .await;
        assert_refused(
            &reply,
            &format!("JSON body {body}"),
            &["request.malformed_json"],
        );
    }
    let reply = d
        .post("/api/1/capture/start")
        .admin()
        .raw(
            "application/x-www-form-urlencoded",
            b"captureRequest=%FF%FE".to_vec(),
        )
        .send()
        .await;
    assert_refused(&reply, "non-UTF-8 form", &["request.malformed_form"]);
    let status = d.get("/api/1/status/capture").admin().send().await;
    assert_eq!(
        status.body["state"], "idle",
        "nothing hostile started a capture"
    );
    still_answers(&d).await;
}

/// Sends `body` over a raw connection (chunked, or with its Content-Length) as long as the
/// server reads it, and returns the server's answer. An HTTP client library gives up on an
/// answer that arrives before its upload is done; the server is right to answer early.
async fn raw_upload(
    d: &TestDaemon,
    path: &str,
    content_type: &str,
    body: &[u8],
    chunked: bool,
) -> String {
    use base64::Engine as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = d.url.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("admin:{}", crate::common::ADMIN_PASSWORD));
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {}", body.len())
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: {content_type}\r\n{framing}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for piece in body.chunks(0x10000) {
        let written = if chunked {
            let mut framed = format!("{:x}\r\n", piece.len()).into_bytes();
            framed.extend_from_slice(piece);
            framed.extend_from_slice(b"\r\n");
            stream.write_all(&framed).await
        } else {
            stream.write_all(piece).await
        };
        if written.is_err() {
            break;
        }
    }
    if chunked {
        let _ = stream.write_all(b"0\r\n\r\n").await;
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn assert_too_large(answer: &str, what: &str) {
    assert!(answer.starts_with("HTTP/1.1 413"), "{what}: {answer}");
    assert!(
        answer.contains("request.body_too_large"),
        "{what}: {answer}"
    );
    assert!(answer.contains(r#""limit":"#), "{what}: {answer}");
}

async fn write_unit_name(d: &TestDaemon, name: &str) -> (Reply, Duration) {
    let started = std::time::Instant::now();
    let reply = d
        .admin_post("/api/1/settings/unitName", &[("value", name)])
        .await;
    (reply, started.elapsed())
}

/// Holds SQLite's write lock on the daemon's database from another connection for `hold`.
fn lock_database(path: &Path, hold: Duration) -> std::thread::JoinHandle<()> {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    std::thread::spawn(move || {
        std::thread::sleep(hold);
        conn.execute_batch("COMMIT").unwrap();
    })
}

#[tokio::test]
async fn a_locked_database_answers_store_busy_or_waits_and_never_crashes() {
    let d = TestDaemon::start().await;
    let db = d.data_dir.join("castd.db");
    // Held for 2 s: a write waits for the lock and succeeds.
    let holder = lock_database(&db, Duration::from_secs(2));
    let (reply, took) = write_unit_name(&d, "Hall short lock").await;
    holder.join().unwrap();
    eprintln!("write under a 2 s lock: {} after {took:?}", reply.status);
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    // Held for 7 s, longer than the 5 s the daemon waits: 503 store.busy, reads go on.
    let holder = lock_database(&db, Duration::from_secs(7));
    let read = d.get("/api/1/settings").admin().send().await;
    assert_eq!(
        read.status,
        StatusCode::OK,
        "reads are not blocked: {}",
        read.text
    );
    let (reply, took) = write_unit_name(&d, "Hall long lock").await;
    eprintln!(
        "write under a 7 s lock: {} {} after {took:?}",
        reply.status,
        reply.code()
    );
    assert!(
        reply.status == StatusCode::OK
            || (reply.status == StatusCode::SERVICE_UNAVAILABLE && reply.code() == "store.busy"),
        "{} {}",
        reply.status,
        reply.text
    );
    still_answers(&d).await;
    holder.join().unwrap();

    let (reply, _) = write_unit_name(&d, "Hall after the lock").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let unit = d.get("/api/1/settings/unitName").admin().send().await;
    assert_eq!(unit.body["value"], "Hall after the lock", "{}", unit.text);
    let check = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .unwrap();
    assert_eq!(check, "ok");
}

/// A read-only file system mounted on `dir` for as long as it lives (root only).
struct ReadOnlyMount(PathBuf);

impl ReadOnlyMount {
    fn new(dir: &Path) -> Option<ReadOnlyMount> {
        std::fs::create_dir_all(dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "ro,size=64g", "castd-test-ro"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then(|| ReadOnlyMount(dir.to_path_buf()))
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_read_only_media_directory_refuses_starts_clearly_and_the_daemon_answers() {
    let temp = tempfile::tempdir().unwrap();
    let media = temp.path().join("media");
    let Some(_mount) = ReadOnlyMount::new(&media) else {
        eprintln!("SKIPPED: cannot mount a read-only file system here (needs root)");
        return;
    };
    let options = crate::common::Options {
        config_toml: format!("media_dir = {:?}\n{}", media, crate::common::RELAXED_AUTH),
        ..Default::default()
    };
    let d = TestDaemon::start_in(&temp.path().join("data"), &options);
    small_template(&d).await;
    let reply = start(&d, json!({"templateID": "small"})).await;
    eprintln!(
        "start on a read-only media dir: {} {}",
        reply.status, reply.text
    );
    assert!(
        !reply.status.is_success() && reply.code() != "internal.error" && !reply.code().is_empty(),
        "{} {}",
        reply.status,
        reply.text
    );
    let status = d.get("/api/1/status/capture").admin().send().await;
    assert_ne!(status.body["state"], "capturing", "{}", status.text);
    still_answers(&d).await;
    // A second try fails the same way: nothing was left half-started.
    let again = start(&d, json!({"templateID": "small"})).await;
    assert_eq!(again.code(), reply.code(), "{}", again.text);
}
