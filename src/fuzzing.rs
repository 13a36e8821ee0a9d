//! Entry points for fuzzing the parsers that read what clients send: form and JSON
//! parameters, capture requests, events and groups, templates and their graphs, iCalendar
//! documents and HTTP Range headers.
//!
//! Each function takes arbitrary bytes, runs them through the same code a request reaches,
//! and panics only when an invariant breaks (a crash, or an answer that contradicts itself).
//! The targets in `fuzz/` call these, and the test suite replays the kept corpus through
//! them, so one definition serves both.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a fuzz entry point panics on a broken invariant: that is how the fuzzer learns of it"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use rusqlite::Connection;
use serde::Deserialize;
use serde_json::Value;

use crate::api::handlers::capture::StartForm;
use crate::api::handlers::scheduler::{EventForm, GroupForm};
use crate::api::handlers::templates::SaveForm;
use crate::api::params::Params;
use crate::graph::compile;
use crate::graph::plan::{H264Encoder, MediaEnv, SourceSpec, V4l2Input};
use crate::model::{Graph, NodeType};
use crate::scheduler::Rules;

/// A parameter struct with every kind of field the lenient reader converts.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct AnyFields {
    limit: Option<i64>,
    offset: Option<u32>,
    ratio: Option<f64>,
    force: Option<bool>,
    tags: Option<Vec<String>>,
    ids: Option<Vec<i64>>,
    title: Option<String>,
    value: Option<Value>,
    nested: Option<BTreeMap<String, Option<bool>>>,
}

/// Reads `data` as a form body, a query string and a JSON body, and each result into
/// typed parameters. Forms re-encoded the standard way parse back to the same pairs.
pub fn form_and_json(data: &[u8]) {
    if let Ok(params) = Params::from_form(data) {
        read_all(&params);
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(params) = Params::from_query(Some(text))
    {
        read_all(&params);
    }
    if let Ok(params) = Params::from_json(data) {
        read_all(&params);
    }
    if let Ok(pairs) = crate::api::params::form_pairs(data) {
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish();
        let again = crate::api::params::form_pairs(encoded.as_bytes())
            .expect("a standard encoding of parsed pairs parses");
        assert_eq!(again, pairs, "re-encoded form {encoded:?}");
    }
}

fn read_all(params: &Params) {
    let _ = params.clone().deserialize::<AnyFields>();
    let _ = params.clone().deserialize::<StartForm>();
    let _ = params.clone().deserialize::<EventForm>();
    let _ = params.clone().deserialize::<SaveForm>();
}

/// The parameters of a form whose one field `name` holds `data`, sent both ways a client
/// may: url-encoded, and (when it is JSON) as a JSON body.
fn field_params(name: &str, data: &[u8]) -> Vec<Params> {
    let mut all = Vec::new();
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(name, &String::from_utf8_lossy(data))
        .finish();
    if let Ok(p) = Params::from_form(encoded.as_bytes()) {
        all.push(p);
    }
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        let body = serde_json::json!({ name: value }).to_string();
        if let Ok(p) = Params::from_json(body.as_bytes()) {
            all.push(p);
        }
    }
    all
}

/// `data` as the `captureRequest` field of startCapture, then the request checks. A request
/// the checks accept is within every bound they promise and survives a JSON round trip.
pub fn capture_request(data: &[u8]) {
    for params in field_params("captureRequest", data) {
        let Ok(form) = params.deserialize::<StartForm>() else {
            continue;
        };
        let request = form.capture_request;
        if crate::engine::validate_request(&request).is_ok() {
            if let Some(d) = request.duration {
                assert!((1000..=86_400_000).contains(&d), "duration {d} accepted");
            }
            assert!(request.tags.len() <= 50);
            if let Some(title) = &request.title {
                assert!(!title.chars().any(char::is_control));
            }
        }
        let text = serde_json::to_string(&request).expect("a request serialises");
        let back: crate::model::CaptureRequest =
            serde_json::from_str(&text).expect("a serialised request parses");
        assert_eq!(
            serde_json::to_value(&back).ok(),
            serde_json::to_value(&request).ok()
        );
    }
}

/// A scratch database with the current schema and the `lecture` template, shared by the
/// schedule and calendar targets; every use is rolled back.
fn scratch_db() -> &'static Mutex<Connection> {
    static DB: OnceLock<Mutex<Connection>> = OnceLock::new();
    DB.get_or_init(|| {
        let path = scratch_dir().join("fuzz.db");
        let _ = std::fs::remove_file(&path);
        drop(crate::store::Store::open(&path).expect("scratch database opens"));
        let conn = Connection::open(&path).expect("scratch database reopens");
        let lecture: crate::model::Template =
            serde_json::from_str(include_str!("../assets/templates/lecture.json"))
                .expect("the lecture template parses");
        crate::store::templates::put(&conn, &lecture).expect("template stored");
        Mutex::new(conn)
    })
}

fn scratch_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("castd-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    })
    .clone()
}

fn rules() -> Rules {
    Rules {
        // A fixed "now" keeps runs repeatable: 2026-01-01T00:00:00Z.
        now: 1_767_225_600_000,
        concurrent: false,
        timezone: "Europe/Berlin".into(),
        default_template: Some("lecture".into()),
    }
}

/// Runs `f` inside a transaction on the scratch database and rolls it back.
fn rolled_back(f: impl FnOnce(&Connection)) {
    let conn = scratch_db()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let tx = conn.unchecked_transaction().expect("transaction");
    f(&tx);
    drop(tx);
}

/// `data` as the `event` field of scheduleCapture and the `group` field of scheduleGroup,
/// then the schedule rules. A stored event keeps them: a window of 10 s to 24 h.
pub fn event(data: &[u8]) {
    let rules = rules();
    for params in field_params("event", data) {
        let Ok(form) = params.deserialize::<EventForm>() else {
            continue;
        };
        rolled_back(|conn| {
            if let Ok(e) = crate::scheduler::book::create_event(conn, form.event, &rules) {
                let length = e.stop_time - e.start_time;
                assert!((10_000..=86_400_000).contains(&length), "{e:?}");
                assert!(e.stop_time > rules.now);
                assert!(e.stop_time <= crate::scheduler::book::MAX_TIME_MS, "{e:?}");
            }
        });
    }
    for params in field_params("group", data) {
        let Ok(form) = params.deserialize::<GroupForm>() else {
            continue;
        };
        rolled_back(|conn| {
            if let Ok(g) = crate::scheduler::book::create_group(conn, form.group, &rules) {
                assert!(g.events.len() <= 1000, "{} occurrences", g.events.len());
            }
        });
    }
}

/// `data` as the `template` field of saveTemplate: the graph rules, then compilation.
/// Validation is idempotent (a normalised graph validates to itself).
pub fn template(data: &[u8]) {
    for params in field_params("template", data) {
        if let Ok(form) = params.deserialize::<SaveForm>() {
            validate_and_compile(&form.template.graph, data.first().copied().unwrap_or(0));
        }
    }
}

/// `data` as a graph in JSON (the graph builder's form): the graph rules, then compilation
/// with device sources of every kind.
pub fn graph(data: &[u8]) {
    let Some((&selector, json)) = data.split_first() else {
        return;
    };
    if let Ok(graph) = serde_json::from_slice::<Graph>(json) {
        validate_and_compile(&graph, selector);
    }
}

fn validate_and_compile(graph: &Graph, selector: u8) {
    let Ok(normal) = crate::graph::validate(graph) else {
        return;
    };
    let again = crate::graph::validate(&normal).expect("a normalised graph validates");
    assert_eq!(again, normal, "validation is idempotent");
    let sources: BTreeMap<String, SourceSpec> = normal
        .nodes
        .iter()
        .filter_map(|n| source_for(n.kind, &n.id, selector).map(|s| (n.id.clone(), s)))
        .collect();
    let env = MediaEnv {
        h264: [H264Encoder::X264, H264Encoder::Va, H264Encoder::V4l2][usize::from(selector % 3)],
        aac: "voaacenc",
        text_overlay: selector & 0x80 == 0,
    };
    let interval = [200, 1000, 60_000, 0, u64::MAX][usize::from(selector % 5)];
    if let Ok(plan) = compile::compile(&normal, &sources, &env, Path::new("/m"), interval) {
        let names: std::collections::HashSet<&str> =
            plan.elements.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names.len(), plan.elements.len(), "element names are unique");
        for link in &plan.links {
            assert!(
                names.contains(link.from.as_str()) && names.contains(link.to.as_str()),
                "link {} -> {} names an element the plan lacks",
                link.from,
                link.to
            );
        }
        let _ = plan.describe();
    }
}

/// A source of the node's kind, the variant chosen by `selector`.
fn source_for(kind: NodeType, id: &str, selector: u8) -> Option<SourceSpec> {
    let missing = SourceSpec::Missing { name: id.into() };
    Some(match kind {
        NodeType::VideoDevice => match selector % 4 {
            0 => SourceSpec::V4l2 {
                path: "/dev/video0".into(),
                input: V4l2Input::Raw {
                    format: "YUY2".into(),
                    width: 1280,
                    height: 720,
                    fps: 30,
                },
            },
            1 => SourceSpec::V4l2 {
                path: "/dev/video0".into(),
                input: V4l2Input::Jpeg {
                    width: 1920,
                    height: 1080,
                    fps: 60,
                },
            },
            2 => SourceSpec::TestVideo {
                pattern: "smpte".into(),
                width: 640,
                height: 360,
                fps: 25,
            },
            _ => missing,
        },
        NodeType::AudioDevice => match selector % 3 {
            0 => SourceSpec::Alsa {
                path: "hw:0,0".into(),
            },
            1 => SourceSpec::TestAudio {
                wave: "sine".into(),
                frequency: 440.0,
                rate: 48_000,
                channels: 2,
            },
            _ => missing,
        },
        NodeType::NetworkSource => match selector % 2 {
            0 => SourceSpec::Network {
                uri: "rtsp://user:pw@10.0.0.9/s".into(),
                shown: "rtsp://user:***@10.0.0.9/s".into(),
            },
            _ => missing,
        },
        _ => return None,
    })
}

/// `data` as an iCalendar document: the parser, then an import into the scratch
/// database (rolled back).
pub fn ical(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok((entries, rejected)) = crate::scheduler::ical::parse(text, "Europe/Berlin") else {
        return;
    };
    for entry in &entries {
        assert!(!entry.uid.is_empty(), "an imported entry has a UID");
    }
    let rules = rules();
    rolled_back(|conn| {
        if let Ok(report) = crate::scheduler::import::import(conn, entries, rejected, &rules) {
            let _ = serde_json::to_string(&report);
        }
    });
}

/// Length of the file the Range target serves.
const RANGE_FILE_LEN: usize = 1000;

/// `data` as the Range header of a download. The answer is the whole file (200), exactly
/// the bytes its Content-Range names (206), or 416; never anything else.
pub fn range_header(data: &[u8]) {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let path = FILE.get_or_init(|| {
        let path = scratch_dir().join("range.bin");
        let bytes: Vec<u8> = (0..RANGE_FILE_LEN).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, bytes).expect("range file");
        path
    });
    let Ok(value) = axum::http::HeaderValue::from_bytes(data) else {
        return;
    };
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    });
    let request = axum::http::Request::builder()
        .uri("/file")
        .header(axum::http::header::RANGE, value)
        .body(axum::body::Body::empty())
        .expect("request");
    let (status, headers, body) = runtime.block_on(async {
        let response = crate::api::files::serve(path, request, Some("video/mp4"))
            .await
            .expect("a file that exists is served");
        let (parts, body) = response.into_parts();
        let body = http_body_util::BodyExt::collect(body)
            .await
            .expect("body")
            .to_bytes();
        (parts.status, parts.headers, body)
    });
    let file = std::fs::read(path).expect("range file");
    match status.as_u16() {
        200 => assert_eq!(body.as_ref(), file.as_slice()),
        206 => {
            let range = headers
                .get(axum::http::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .expect("206 has Content-Range");
            let (span, total) = range
                .strip_prefix("bytes ")
                .and_then(|r| r.split_once('/'))
                .expect("Content-Range: bytes a-b/n");
            assert_eq!(total, RANGE_FILE_LEN.to_string());
            let (a, b) = span.split_once('-').expect("a-b");
            let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
            assert!(a <= b && b < RANGE_FILE_LEN, "{range}");
            assert_eq!(body.as_ref(), &file[a..=b], "{range}");
        }
        416 => {}
        other => panic!("Range {data:?} answered {other}"),
    }
    if let Some(disposition) = headers.get(axum::http::header::CONTENT_DISPOSITION) {
        assert!(
            !disposition
                .as_bytes()
                .iter()
                .any(|b| *b == b'\r' || *b == b'\n')
        );
    }
}
