//! Denial of service through disk, memory and outbound requests: floods that would grow the
//! database, a backup of a large database, restore archives that unpack to far more than
//! they hold, markers without end, calendar URLs that point inside the unit's networks, and
//! templates too large to check cheaply. Each is bounded, and the figures are printed.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::capture::{action, finished_package, small_template, start};
use crate::common::{ADMIN_PASSWORD, Options, Reply, TestDaemon};
use crate::store_now;

const MIB: u64 = 1024 * 1024;

/// A figure of `/proc/<pid>/status` in bytes (`VmRSS`, `VmHWM`).
fn memory(d: &TestDaemon, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.child().id())).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024
}

/// Bytes the daemon has written through system calls so far (`wchar` of /proc/<pid>/io).
fn written(d: &TestDaemon) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{}/io", d.child().id())).unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

/// The database's size on disk, its write-ahead log included.
fn database_bytes(data_dir: &Path) -> u64 {
    ["castd.db", "castd.db-wal"]
        .iter()
        .map(|name| std::fs::metadata(data_dir.join(name)).map_or(0, |m| m.len()))
        .sum()
}

/// CPU time the daemon has used so far (user and system), in seconds.
fn cpu_seconds(d: &TestDaemon) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", d.child().id())).unwrap();
    // Fields after the command name (which is in parentheses): utime and stime are the
    // 12th and 13th of them.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .unwrap()
        .unwrap_or(100) as f64;
    ticks as f64 / per_second
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

// ---------------------------------------------------------------------------------------
// Item 9: the audit trail as a disk bomb, and a backup built in memory.

#[tokio::test]
async fn a_flood_of_unauthenticated_calls_with_huge_paths_barely_grows_the_database() {
    let d = TestDaemon::start().await;
    let since = store_now();
    let before = database_bytes(&d.data_dir);
    let cpu_before = cpu_seconds(&d);
    // Parsed once: the debug build's URL parser would otherwise spend the test's time.
    let url = reqwest::Url::parse(&format!("{}/api/1/{}", d.url, "A".repeat(60_000))).unwrap();
    let client = castd::http_client::builder().build().unwrap();
    const CALLS: usize = 3000;
    let started = Instant::now();
    let answers: Vec<(StatusCode, String)> = futures_util::stream::iter(0..CALLS)
        .map(|_| {
            let request = client.post(url.clone()).send();
            async move {
                let response = request.await.expect("castd answers");
                let status = response.status();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                (
                    status,
                    body["code"].as_str().unwrap_or_default().to_string(),
                )
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let flood = started.elapsed();
    // Calls the router answered (with a JSON error) went past the audit layer.
    let audited = answers.iter().filter(|(_, code)| !code.is_empty()).count();
    assert!(answers.iter().all(|(status, _)| status.is_client_error()));

    let reply = d
        .get(&format!(
            "/api/1/maintenance/audit?since={since}&limit=1000"
        ))
        .admin()
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let rows = reply.body.as_array().unwrap().clone();
    let anonymous: Vec<&Value> = rows.iter().filter(|e| e["user"].is_null()).collect();
    let counted: i64 = anonymous
        .iter()
        .map(|e| e["count"].as_i64().unwrap_or(1))
        .sum();
    let grown = database_bytes(&d.data_dir).saturating_sub(before);
    eprintln!(
        "audit flood: {CALLS} calls with 60,000-character paths in {:.2} s (daemon CPU {:.1} s); \
         {audited} audited in {} rows (counts add up to {counted}); database and WAL grew \
         {:.2} MiB",
        flood.as_secs_f64(),
        cpu_seconds(&d) - cpu_before,
        anonymous.len(),
        mib(grown)
    );
    // A bounded number of rows of bounded size (the write-ahead log alone may take up to
    // 4 MiB before SQLite checkpoints it), and every call accounted for.
    assert!(grown < 8 * MIB, "the database grew {grown} bytes");
    // Each minute the flood touched: the budget, and a summary for each status seen.
    let minutes = flood.as_secs() as usize / 60 + 2;
    assert!(
        anonymous.len() <= minutes * (castd::audit::ANONYMOUS_PER_MINUTE as usize + 4),
        "{} rows in {minutes} minutes",
        anonymous.len()
    );
    assert!(
        anonymous
            .iter()
            .all(|e| e["path"].as_str().unwrap().len() <= castd::audit::MAX_PATH_BYTES)
    );
    assert_eq!(counted, audited as i64);
    let summary = anonymous
        .iter()
        .find(|e| e["count"].as_i64().unwrap() > 1)
        .expect("a summary row");
    assert_eq!(
        (summary["address"].as_str(), summary["path"].as_str()),
        (Some("127.0.0.1"), Some("*"))
    );
}

/// Adds `mib` MiB of incompressible rows to a stopped daemon's database, as years of
/// records would.
fn grow_database(data_dir: &Path, mib: u64) {
    let conn = rusqlite::Connection::open(data_dir.join("castd.db")).unwrap();
    conn.execute_batch(&format!(
        "CREATE TABLE filler (blob BLOB NOT NULL);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {mib})
         INSERT INTO filler SELECT randomblob(1048576) FROM n;"
    ))
    .unwrap();
}

#[tokio::test]
async fn a_backup_of_a_large_database_streams_from_disk_and_restores() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let mut d = TestDaemon::start_in(&data_dir, &Options::default());
    let unit = d
        .admin_post("/api/1/settings/unitName", &[("value", "Large Hall")])
        .await;
    assert_eq!(unit.status, StatusCode::OK, "{}", unit.text);
    d.stop_within(Duration::from_secs(10));
    const FILLER_MIB: u64 = 160;
    grow_database(&data_dir, FILLER_MIB);
    let d = TestDaemon::start_in(&data_dir, &Options::default());
    let database = database_bytes(&data_dir);

    let rss_before = memory(&d, "VmRSS");
    let started = Instant::now();
    let response = reqwest::Client::new()
        .get(format!("{}/api/1/maintenance/backup", d.url))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let declared = response.content_length().expect("a Content-Length");
    let archive_path = temp.path().join("backup.tar");
    let mut archive = tokio::fs::File::create(&archive_path).await.unwrap();
    let mut body = response.bytes_stream();
    let mut received = 0u64;
    let mut rss_peak = rss_before;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        received += chunk.len() as u64;
        archive.write_all(&chunk).await.unwrap();
        rss_peak = rss_peak.max(memory(&d, "VmRSS"));
    }
    archive.flush().await.unwrap();
    let took = started.elapsed();
    let hwm = memory(&d, "VmHWM");
    let growth = rss_peak.saturating_sub(rss_before);
    eprintln!(
        "backup: database {:.0} MiB, archive {:.0} MiB in {:.1} s; daemon RSS {:.0} MiB before, \
         {:.0} MiB at most while sending (+{:.1} MiB), VmHWM {:.0} MiB",
        mib(database),
        mib(received),
        took.as_secs_f64(),
        mib(rss_before),
        mib(rss_peak),
        mib(growth),
        mib(hwm)
    );
    assert_eq!(received, declared);
    assert!(received > FILLER_MIB * MIB);
    // Building the archive in memory grew the process by the database's size; streaming
    // costs a few chunks.
    assert!(
        growth < 64 * MIB && hwm < rss_before + database / 2,
        "RSS grew {growth} bytes, VmHWM {hwm}, for a {database}-byte database"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&data_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The streamed archive restores.
    let reset = d
        .admin_post("/api/1/settings/unitName", &[("value", "Wiped")])
        .await;
    assert_eq!(reset.status, StatusCode::OK);
    let rss_before = memory(&d, "VmRSS");
    let started = Instant::now();
    let bytes = std::fs::read(&archive_path).unwrap();
    let reply = d
        .post("/api/1/maintenance/restore")
        .admin()
        .raw("application/x-tar", bytes)
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    eprintln!(
        "restore of that archive: checked and staged in {:.1} s; daemon RSS {:.0} → {:.0} MiB",
        started.elapsed().as_secs_f64(),
        mib(rss_before),
        mib(memory(&d, "VmRSS"))
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !data_dir.join("restart-command-ran").exists() {
        assert!(Instant::now() < deadline, "no restart:\n{}", d.stderr());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut d = d;
    d.stop_within(Duration::from_secs(10));
    let restarted = TestDaemon::start_in(&data_dir, &Options::default());
    let name = restarted
        .get("/api/1/settings/unitName")
        .admin()
        .send()
        .await;
    assert_eq!(name.body["value"], "Large Hall", "{}", name.text);
    drop(restarted);
    let conn = rusqlite::Connection::open(data_dir.join("castd.db")).unwrap();
    let blobs: i64 = conn
        .query_row("SELECT count(*) FROM filler", [], |r| r.get(0))
        .unwrap();
    assert_eq!(blobs as u64, FILLER_MIB);
}

// ---------------------------------------------------------------------------------------
// Item 11: restore archives that unpack to far more than they hold.

fn gnu_header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_path(name).unwrap();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(0o600);
    header
}

fn manifest_member() -> (tar::Header, Vec<u8>) {
    let manifest = json!({"format": "castd-backup", "formatVersion": 1, "castdVersion": "0",
        "schemaVersion": 1, "created": 0, "unitName": "x"});
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let mut header = gnu_header("manifest.json", tar::EntryType::Regular, bytes.len() as u64);
    header.set_cksum();
    (header, bytes)
}

/// A manifest and a `castd.db` written as a GNU sparse file: 512 bytes stored, `real` bytes
/// when expanded.
fn sparse_archive(real: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let (header, manifest) = manifest_member();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&manifest);
    out.resize(out.len().div_ceil(512) * 512, 0);
    let mut header = gnu_header("castd.db", tar::EntryType::GNUSparse, 512);
    {
        let gnu = header.as_gnu_mut().unwrap();
        gnu.set_real_size(real);
        gnu.sparse[0].set_offset(real - 512);
        gnu.sparse[0].set_length(512);
    }
    header.set_cksum();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&[b'S'; 512]);
    out.extend_from_slice(&[0; 1024]);
    out
}

/// A manifest and one more member of the given kind (its header says `size` bytes; the
/// archive holds at most a block of them).
fn archive_with(name: &str, kind: tar::EntryType, size: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let (header, manifest) = manifest_member();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&manifest);
    out.resize(out.len().div_ceil(512) * 512, 0);
    let mut header = gnu_header(name, kind, size);
    if matches!(kind, tar::EntryType::Symlink | tar::EntryType::Link) {
        header.set_link_name("/etc/passwd").unwrap();
    }
    header.set_cksum();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&[b'x'; 512][..size.min(512) as usize]);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0; 1024]);
    out
}

#[tokio::test]
async fn restore_members_that_are_not_plain_files_or_too_large_are_refused_before_writing() {
    let d = TestDaemon::start().await;
    let restore = async |archive: Vec<u8>| {
        let before = written(&d);
        let reply = d
            .post("/api/1/maintenance/restore")
            .admin()
            .raw("application/x-tar", archive)
            .send()
            .await;
        (reply, written(&d) - before)
    };

    const GIB: u64 = 1024 * MIB;
    let sparse = sparse_archive(3 * GIB);
    let size = sparse.len();
    let (reply, wrote) = restore(sparse).await;
    eprintln!(
        "sparse castd.db ({size}-byte archive, 3 GiB expanded): {} {} after writing {:.2} MiB",
        reply.status.as_u16(),
        reply.code(),
        mib(wrote)
    );
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "backup.invalid"),
        "{}",
        reply.text
    );
    assert!(
        reply.body["params"]["reason"]
            .as_str()
            .unwrap()
            .contains("sparse"),
        "{}",
        reply.text
    );
    assert!(
        wrote < 16 * MIB,
        "{wrote} bytes written for a {size}-byte archive"
    );

    for (name, kind) in [
        ("castd.db", tar::EntryType::Char),
        ("castd.db", tar::EntryType::Block),
        ("castd.db", tar::EntryType::Fifo),
        ("castd.db", tar::EntryType::Symlink),
        ("castd.db", tar::EntryType::Link),
        ("castd.db", tar::EntryType::XHeader),
        ("././@LongLink", tar::EntryType::GNULongName),
    ] {
        let (reply, wrote) = restore(archive_with(name, kind, 0)).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "backup.invalid"),
            "{kind:?}: {}",
            reply.text
        );
        assert!(wrote < 16 * MIB, "{kind:?}: {wrote}");
    }
    // A pax header that claims 1 GiB is refused, not read into memory.
    let (reply, _) = restore(archive_with(
        "PaxHeaders/castd.db",
        tar::EntryType::XHeader,
        GIB,
    ))
    .await;
    assert_eq!(reply.code(), "backup.invalid", "{}", reply.text);

    // A regular castd.db that claims 2 GiB: refused by its header, before a byte is read.
    let (reply, wrote) = restore(archive_with("castd.db", tar::EntryType::Regular, 2 * GIB)).await;
    eprintln!(
        "castd.db claiming 2 GiB: {} {} (limit {}), {:.2} MiB written",
        reply.status.as_u16(),
        reply.code(),
        reply.body["params"]["limit"],
        mib(wrote)
    );
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "backup.too_large"),
        "{}",
        reply.text
    );
    assert!(reply.body["params"]["limit"].as_u64().unwrap() <= GIB);
    assert!(wrote < 16 * MIB);

    let leftovers: Vec<_> = std::fs::read_dir(&d.data_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp") || n.ends_with(".restore"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(d.get("/api/1/health").send().await.status, StatusCode::OK);
}

// ---------------------------------------------------------------------------------------
// Item 12: markers without end.

async fn add_marker(d: &TestDaemon, title: &str, description: &str) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = d
        .post("/api/1/capture/marker")
        .admin()
        .form(&[("title", title), ("description", description)])
        .send()
        .await;
    (reply, started.elapsed())
}

fn package_row_bytes(data_dir: &Path, id: &str) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(
        data_dir.join("castd.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    conn.query_row(
        "SELECT length(package) FROM media_packages WHERE id = ?1",
        [id],
        |r| r.get(0),
    )
    .unwrap()
}

fn median_ms(times: &[Duration]) -> f64 {
    let mut ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    ms[ms.len() / 2]
}

#[tokio::test]
async fn markers_are_bounded_in_length_and_number_and_never_rewrite_the_package() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let started = start(&d, json!({"templateID": "small", "title": "Markers"})).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let id = started.body["sessionID"].as_str().unwrap().to_string();

    let long_title = "T".repeat(castd::engine::MAX_MARKER_TITLE_CHARS + 1);
    let (reply, _) = add_marker(&d, &long_title, "").await;
    assert_eq!(
        (
            reply.status,
            reply.code(),
            reply.body["params"]["field"].as_str()
        ),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "capture.invalid_marker",
            Some("title")
        ),
        "{}",
        reply.text
    );
    let long_description = "D".repeat(castd::engine::MAX_MARKER_DESCRIPTION_CHARS + 1);
    let (reply, _) = add_marker(&d, "Question", &long_description).await;
    assert_eq!(
        (
            reply.status,
            reply.code(),
            reply.body["params"]["field"].as_str()
        ),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "capture.invalid_marker",
            Some("description")
        ),
        "{}",
        reply.text
    );
    let (reply, _) = add_marker(&d, "   ", "").await;
    assert_eq!(reply.code(), "capture.invalid_marker");

    // 200 markers with the longest description: each call costs the same, and neither the
    // package row nor the manifest is rewritten.
    let manifest = d.data_dir.join("media").join(&id).join("manifest.json");
    let manifest_before = std::fs::metadata(&manifest).map(|m| (m.len(), m.modified().unwrap()));
    let row_before = package_row_bytes(&d.data_dir, &id);
    let full = "D".repeat(castd::engine::MAX_MARKER_DESCRIPTION_CHARS);
    let mut times = Vec::new();
    for n in 0..200 {
        let (reply, took) = add_marker(&d, &format!("Marker {n}"), &full).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        times.push(took);
    }
    let row_after = package_row_bytes(&d.data_dir, &id);
    let manifest_after = std::fs::metadata(&manifest).map(|m| (m.len(), m.modified().unwrap()));
    eprintln!(
        "markers: 200 with 4,096-character descriptions; median call {:.1} ms for the first 20, \
         {:.1} ms for the last 20; package row {row_before} → {row_after} bytes",
        median_ms(&times[..20]),
        median_ms(&times[180..])
    );
    assert_eq!(row_after, row_before);
    assert!(row_after < 64 * 1024);
    assert_eq!(manifest_after.ok(), manifest_before.ok());

    // Up to the limit, then refused.
    let limit = castd::engine::MAX_MARKERS_PER_SESSION;
    for n in 200..limit {
        let (reply, _) = add_marker(&d, &format!("M{n}"), "").await;
        assert_eq!(reply.status, StatusCode::CREATED, "{n}: {}", reply.text);
    }
    let (reply, _) = add_marker(&d, "one too many", "").await;
    assert_eq!(
        (
            reply.status,
            reply.code(),
            reply.body["params"]["limit"].as_u64()
        ),
        (
            StatusCode::CONFLICT,
            "capture.too_many_markers",
            Some(limit as u64)
        ),
        "{}",
        reply.text
    );

    assert_eq!(action(&d, "stop").await.status, StatusCode::OK);
    let package = finished_package(&d, &id).await;
    let markers = package["markers"].as_array().unwrap();
    assert_eq!(markers.len(), limit);
    assert_eq!(markers[0]["title"], "Marker 0");
    assert_eq!(markers[limit - 1]["title"], format!("M{}", limit - 1));
    let written: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    assert_eq!(written["markers"].as_array().unwrap().len(), limit);
    eprintln!(
        "markers: {limit} in the finished package; manifest.json {} bytes",
        std::fs::metadata(&manifest).unwrap().len()
    );
}

// ---------------------------------------------------------------------------------------
// Item 13: calendar import as a probe of the unit's networks.

/// A server that counts connections and answers each with a small calendar.
async fn calendar_server(address: &str) -> Option<(SocketAddr, Arc<AtomicUsize>)> {
    let listener = tokio::net::TcpListener::bind(address).await.ok()?;
    let local = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut request = vec![0u8; 8192];
                let _ = socket.read(&mut request).await;
                let body = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:lms\r\nEND:VCALENDAR\r\n";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/calendar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    Some((local, connections))
}

/// A server that answers every request with a redirect to `to`.
async fn redirect_server(address: &str, to: String) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    let local = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let to = to.clone();
            tokio::spawn(async move {
                let mut request = vec![0u8; 8192];
                let _ = socket.read(&mut request).await;
                let answer = format!(
                    "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    local
}

/// Imports from `url` as a Scheduler; the status, code and message.
async fn import_as_scheduler(d: &TestDaemon, url: &str) -> (StatusCode, String, Value) {
    let reply = d
        .post("/api/1/scheduler/calendar")
        .auth("planner", "planner-password")
        .form(&[("url", url)])
        .send()
        .await;
    eprintln!(
        "calendar import {url}: {} {} {}",
        reply.status.as_u16(),
        reply.code(),
        reply.body["message"]
    );
    (
        reply.status,
        reply.code().to_string(),
        reply.body["message"].clone(),
    )
}

#[tokio::test]
async fn calendar_import_reaches_no_internal_address_however_it_is_spelled() {
    let d = TestDaemon::start().await;
    d.create_user("planner", "Scheduler", "planner-password")
        .await;
    let (victim, connections) = calendar_server("127.0.0.1:0").await.unwrap();
    let port = victim.port();
    // The same port on IPv6 loopback, where the machine has it.
    let v6 = calendar_server(&format!("[::1]:{port}")).await;
    let closed = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let victim_url = format!("http://127.0.0.1:{port}/lectures.ics");
    let urls = [
        victim_url.clone(),
        format!("http://2130706433:{port}/lectures.ics"),
        format!("http://0x7f000001:{port}/lectures.ics"),
        format!("http://127.1:{port}/lectures.ics"),
        format!("http://localhost:{port}/lectures.ics"),
        format!("http://[::1]:{port}/lectures.ics"),
        format!("http://[::ffff:127.0.0.1]:{port}/lectures.ics"),
        format!("webcal://127.0.0.1:{port}/lectures.ics"),
        format!("http://0.0.0.0:{port}/lectures.ics"),
        // A closed port answers exactly like an open one.
        format!("http://127.0.0.1:{closed}/lectures.ics"),
    ];
    let mut answers = Vec::new();
    for url in &urls {
        answers.push(import_as_scheduler(&d, url).await);
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "the victim was reached"
    );
    if let Some((_, v6_connections)) = &v6 {
        assert_eq!(v6_connections.load(Ordering::SeqCst), 0);
    }
    for (url, answer) in urls.iter().zip(&answers) {
        assert_eq!(answer, &answers[0], "{url} is told apart");
    }
    assert_eq!(
        (answers[0].0, answers[0].1.as_str()),
        (StatusCode::BAD_GATEWAY, "calendar.fetch_failed")
    );
    assert!(
        d.stderr().contains("calendar import from"),
        "the reason is logged"
    );

    // A host the administrator allows (127.0.0.2 is loopback too) redirects to the victim:
    // the redirect's target is checked on its own and stays refused.
    let redirect_host = "127.0.0.2";
    let allowed = d
        .admin_post(
            "/api/1/settings/calendarImportAllowedHosts",
            &[("value", redirect_host)],
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.text);
    let redirect = redirect_server(&format!("{redirect_host}:0"), victim_url.clone()).await;
    let redirect_url = format!("http://{redirect}/lectures.ics");
    assert_eq!(import_as_scheduler(&d, &redirect_url).await, answers[0]);
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "reached by a redirect"
    );

    // Once the administrator allows the victim's host too, both imports go through.
    let allowed = d
        .admin_post(
            "/api/1/settings/calendarImportAllowedHosts",
            &[("value", "127.0.0.1, 127.0.0.2")],
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.text);
    for url in [&victim_url, &redirect_url] {
        let (status, code, _) = import_as_scheduler(&d, url).await;
        assert_eq!(status, StatusCode::OK, "{url}: {code}");
    }
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}

// ---------------------------------------------------------------------------------------
// Item 15 (templates): a graph too large to check cheaply.

fn template_with_previews(previews: usize) -> Value {
    let mut nodes = vec![
        json!({"id": "camera", "type": "videoDevice"}),
        json!({"id": "microphone", "type": "audioDevice", "children": ["audio"]}),
        json!({"id": "video", "type": "h264Encoder", "parents": ["camera"], "children": ["recording"]}),
        json!({"id": "audio", "type": "aacEncoder", "children": ["recording"]}),
        json!({"id": "recording", "type": "fileRecorder"}),
    ];
    for n in 0..previews {
        nodes.push(json!({"id": format!("p{n}"), "type": "preview", "parents": ["camera"]}));
    }
    json!({"id": "wide", "name": "Wide", "graph": {"root": "recording", "nodes": nodes}})
}

#[tokio::test]
async fn templates_beyond_the_size_bounds_are_refused_at_once() {
    let d = TestDaemon::start().await;
    // As a JSON body, so that the 10,000-node template fits in the body limit.
    let save = async |template: Value| {
        let body = json!({ "template": template }).to_string();
        let size = body.len();
        let started = Instant::now();
        let reply = d
            .post("/api/1/capture/templates")
            .admin()
            .raw("application/json", body)
            .send()
            .await;
        (reply, started.elapsed(), size)
    };
    let most = castd::graph::MAX_NODES;
    let (reply, _, _) = save(template_with_previews(most - 5)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let (reply, _, _) = save(template_with_previews(most - 4)).await;
    assert_eq!(
        (
            reply.status,
            reply.code(),
            reply.body["params"]["limit"].as_u64()
        ),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "templates.invalid",
            Some(most as u64)
        ),
        "{}",
        reply.text
    );
    let (reply, took, size) = save(template_with_previews(10_000)).await;
    eprintln!(
        "template of 10,005 nodes ({} KiB): {} {} in {:.0} ms",
        size / 1024,
        reply.status.as_u16(),
        reply.code(),
        took.as_secs_f64() * 1000.0
    );
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "templates.invalid"),
        "{}",
        reply.text
    );

    // Few nodes, but a description that makes the JSON too large.
    let mut bloated = template_with_previews(1);
    bloated["description"] = json!("x".repeat(castd::templates::MAX_TEMPLATE_BYTES));
    let (reply, _, _) = save(bloated).await;
    assert_eq!(
        (reply.code(), reply.body["params"]["limit"].as_u64()),
        (
            "templates.invalid",
            Some(castd::templates::MAX_TEMPLATE_BYTES as u64)
        ),
        "{}",
        reply.text
    );
    let listed = d.get("/api/1/capture/templates/wide").admin().send().await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(
        listed.body["graph"]["nodes"].as_array().unwrap().len(),
        most
    );
}
