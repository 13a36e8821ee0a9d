//! An Opencast server's capture-agent side on loopback: the service registry, capture-admin
//! (agent state, agent configuration, recording states), the scheduler's calendar and
//! `/info/me.json`, behind Opencast's security layer as it behaves: a request without
//! credentials or `X-Requested-Auth` is redirected to the login page, `/info/me.json`
//! answers anonymous callers too, Basic users are the web UI's users, Digest users are the
//! in-memory capture-agent users (realm `Opencast`, `qop=auth`, nonces that go stale).
//!
//! Every request is checked as Opencast checks it, and more strictly where a mistake would
//! go unnoticed in the field (credentials not sent up front, a relative cutoff, an ETag
//! not sent back exactly, a configuration value that is not a string, a Digest count
//! reused). Violations are answered with an error and recorded for the test to assert.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use md5::{Digest as _, Md5};
use serde_json::{Value, json};

use super::kit::{Server, Violations};

/// A web UI user with `ROLE_CAPTURE_AGENT` (signs in with Basic).
pub const AGENT_USER: &str = "room-agent";
pub const AGENT_PASSWORD: &str = "agent-9f3c1d";
/// An in-memory capture-agent user (`capture_agent.user.mh_default_org.<name>`): Digest only.
pub const DIGEST_USER: &str = "digest-agent";
pub const DIGEST_PASSWORD: &str = "digest-5e2a77";
/// A web UI user without an agent role.
pub const LECTURER_USER: &str = "lecturer";
pub const LECTURER_PASSWORD: &str = "lecturer-0b8e";
const REALM: &str = "Opencast";

const KNOWN_AGENT_STATES: &[&str] = &[
    "idle",
    "shutting_down",
    "capturing",
    "uploading",
    "error",
    "unknown",
    "offline",
];
const KNOWN_RECORDING_STATES: &[&str] = &[
    "unknown",
    "capturing",
    "capture_finished",
    "capture_error",
    "manifest",
    "manifest_error",
    "manifest_finished",
    "compressing",
    "compressing_error",
    "uploading",
    "upload_finished",
    "upload_error",
];

/// How the registry answers a service type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryShape {
    /// One registration: an object.
    Object,
    /// Two registrations (a worker, then this server): an array.
    Array,
    /// None: `"services": ""`.
    Empty,
}

/// One scheduled event on this agent.
#[derive(Debug, Clone)]
pub struct Scheduled {
    pub uid: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub title: String,
    /// The agent properties attachment, as Opencast writes it (`key=value` lines).
    pub properties: String,
}

/// A request the peer answered, for assertions on order and content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub what: String,
    pub detail: String,
}

#[derive(Default)]
struct Inner {
    violations: Violations,
    shape: HashMap<String, RegistryShape>,
    agent_states: Vec<(String, String, Option<String>)>,
    configurations: Vec<(String, BTreeMap<String, String>)>,
    recording_states: Vec<(String, String)>,
    events: Vec<Scheduled>,
    /// When the agent's schedule last changed (the ETag is `mod<ms>`).
    modified_ms: i64,
    calendar_requests: Vec<CalendarRequest>,
    /// Issued nonces and the highest `nc` used on each.
    nonces: HashMap<String, u32>,
    /// Nonces issued before this are stale.
    stale_before: usize,
    nonce_order: Vec<String>,
    seen: Vec<Seen>,
}

/// One calendar request as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarRequest {
    pub cutoff_ms: i64,
    pub if_none_match: Option<String>,
    pub status: u16,
}

type Shared = Arc<Mutex<Inner>>;
type Ctx = State<(Shared, String)>;

pub struct Peer {
    /// The admin node's URL.
    pub url: String,
    inner: Shared,
    _server: Server,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Peer {
    pub async fn start() -> Peer {
        let inner: Shared = Arc::default();
        let state = inner.clone();
        let server = Server::start(|origin| {
            Router::new()
                .route("/info/me.json", get(me))
                .route("/services/available.json", get(available))
                .route("/capture-admin/agents/{name}", post(agent_state))
                .route(
                    "/capture-admin/agents/{name}/configuration",
                    post(agent_configuration),
                )
                .route("/capture-admin/recordings/{id}", post(recording_state))
                .route("/recordings/calendars", get(calendars))
                .fallback(unknown)
                .with_state((state, origin.to_string()))
        })
        .await;
        Peer {
            url: server.origin.clone(),
            inner,
            _server: server,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.list()
    }

    pub fn set_registry_shape(&self, service_type: &str, shape: RegistryShape) {
        self.lock().shape.insert(service_type.to_string(), shape);
    }

    /// Agent state reports: (agent name as decoded, state, address).
    pub fn agent_states(&self) -> Vec<(String, String, Option<String>)> {
        self.lock().agent_states.clone()
    }

    pub fn configurations(&self) -> Vec<(String, BTreeMap<String, String>)> {
        self.lock().configurations.clone()
    }

    pub fn recording_states(&self) -> Vec<(String, String)> {
        self.lock().recording_states.clone()
    }

    pub fn calendar_requests(&self) -> Vec<CalendarRequest> {
        self.lock().calendar_requests.clone()
    }

    /// Every answered request, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// Schedules (or replaces, by UID) an event; the agent's schedule changes.
    pub fn schedule(&self, event: Scheduled) {
        let mut inner = self.lock();
        inner.events.retain(|e| e.uid != event.uid);
        inner.events.push(event);
        inner.modified_ms = now_ms().max(inner.modified_ms + 1);
    }

    /// Removes an event; the agent's schedule changes.
    pub fn unschedule(&self, uid: &str) {
        let mut inner = self.lock();
        inner.events.retain(|e| e.uid != uid);
        inner.modified_ms = now_ms().max(inner.modified_ms + 1);
    }

    /// Makes every nonce issued so far stale (as 300 s passing would).
    pub fn expire_nonces(&self) {
        let mut inner = self.lock();
        inner.stale_before = inner.nonce_order.len();
    }

    /// The highest `nc` a Digest client used on each nonce, in the order they were issued.
    pub fn nonce_counts(&self) -> Vec<u32> {
        let inner = self.lock();
        inner
            .nonce_order
            .iter()
            .map(|n| inner.nonces.get(n).copied().unwrap_or(0))
            .collect()
    }
}

/// Who a request runs as, after Opencast's security layer.
enum Caller {
    Anonymous,
    User(&'static str),
}

fn roles(user: &str) -> Vec<&'static str> {
    match user {
        AGENT_USER => vec!["ROLE_CAPTURE_AGENT", "ROLE_USER"],
        DIGEST_USER => vec!["ROLE_CAPTURE_AGENT"],
        _ => vec!["ROLE_USER", "ROLE_STUDIO"],
    }
}

fn challenge(inner: &mut Inner, stale: bool) -> Response {
    let nonce = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{:016x}",
        now_ms(),
        rand::random::<u64>()
    ));
    inner.nonces.insert(nonce.clone(), 0);
    inner.nonce_order.push(nonce.clone());
    let mut value = format!("Digest realm=\"{REALM}\", qop=\"auth\", nonce=\"{nonce}\"");
    if stale {
        value.push_str(", stale=true");
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, value)],
        "Unauthorized",
    )
        .into_response()
}

fn basic_challenge() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, format!("Basic realm=\"{REALM}\""))],
        "Unauthorized",
    )
        .into_response()
}

/// `key=value, key="value"` pairs of a Digest `Authorization`.
fn digest_fields(value: &str) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    let mut rest = value;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_string();
        rest = &rest[eq + 1..];
        let (val, next) = if let Some(q) = rest.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            (q[..end].to_string(), &q[(end + 1).min(q.len())..])
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            (rest[..end].trim().to_string(), &rest[end..])
        };
        fields.insert(key, val);
        rest = next;
    }
    fields
}

/// Opencast's security layer: who the request runs as, or the answer it gets instead.
fn authenticate(
    inner: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    anonymous_allowed: bool,
) -> Result<Caller, Box<Response>> {
    let mut inner = inner.lock().unwrap();
    let requested = headers
        .get("x-requested-auth")
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match (authorization, requested.as_deref()) {
        (None, None) if anonymous_allowed => Ok(Caller::Anonymous),
        (None, None) => {
            let what = format!(
                "{method} {uri} without credentials or X-Requested-Auth: redirected to the \
                 login page (Basic must be sent up front)"
            );
            inner.violations.record(what);
            Err(Box::new(
                (StatusCode::FOUND, [(header::LOCATION, "/login.html")], "").into_response(),
            ))
        }
        (None, Some("digest")) => Err(Box::new(challenge(&mut inner, false))),
        (None, Some(_)) => Err(Box::new(basic_challenge())),
        (Some(value), _) if value.starts_with("Basic ") => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value["Basic ".len()..].trim())
                .ok()
                .and_then(|v| String::from_utf8(v).ok())
                .unwrap_or_default();
            match decoded.split_once(':') {
                Some((AGENT_USER, AGENT_PASSWORD)) => Ok(Caller::User(AGENT_USER)),
                Some((LECTURER_USER, LECTURER_PASSWORD)) => Ok(Caller::User(LECTURER_USER)),
                _ => Err(Box::new(basic_challenge())),
            }
        }
        (Some(value), _) if value.starts_with("Digest ") => {
            let f = digest_fields(&value["Digest ".len()..]);
            let get = |k: &str| f.get(k).cloned().unwrap_or_default();
            let nonce = get("nonce");
            let Some(&last) = inner.nonces.get(&nonce) else {
                return Err(Box::new(challenge(&mut inner, false)));
            };
            let issued = inner.nonce_order.iter().position(|n| *n == nonce).unwrap();
            let expected_uri = uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default();
            if get("uri") != expected_uri {
                let what = format!(
                    "Digest uri {:?} is not the request's {expected_uri:?}",
                    get("uri")
                );
                inner.violations.record(what);
                return Err(Box::new(challenge(&mut inner, false)));
            }
            if get("username") != DIGEST_USER || get("realm") != REALM || get("qop") != "auth" {
                return Err(Box::new(challenge(&mut inner, false)));
            }
            let nc = u32::from_str_radix(&get("nc"), 16).unwrap_or(0);
            let ha1 = md5_hex(&format!("{DIGEST_USER}:{REALM}:{DIGEST_PASSWORD}"));
            let ha2 = md5_hex(&format!("{method}:{expected_uri}"));
            let response = md5_hex(&format!(
                "{ha1}:{nonce}:{}:{}:auth:{ha2}",
                get("nc"),
                get("cnonce")
            ));
            if response != get("response") {
                return Err(Box::new(challenge(&mut inner, false)));
            }
            if issued < inner.stale_before {
                return Err(Box::new(challenge(&mut inner, true)));
            }
            if nc <= last {
                let what = format!("Digest nc {nc} reused on a nonce (last {last})");
                inner.violations.record(what);
                return Err(Box::new(challenge(&mut inner, false)));
            }
            inner.nonces.insert(nonce, nc);
            Ok(Caller::User(DIGEST_USER))
        }
        (Some(_), _) => Err(Box::new(basic_challenge())),
    }
}

/// The caller, required to hold an agent role.
fn agent(
    inner: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<&'static str, Box<Response>> {
    match authenticate(inner, method, uri, headers, false)? {
        Caller::User(user) if roles(user).contains(&"ROLE_CAPTURE_AGENT") => Ok(user),
        _ => Err(Box::new(
            (StatusCode::FORBIDDEN, "Forbidden").into_response(),
        )),
    }
}

fn see(inner: &Shared, what: &str, detail: String) {
    inner.lock().unwrap().seen.push(Seen {
        what: what.to_string(),
        detail,
    });
}

fn refuse(inner: &Shared, status: StatusCode, what: String) -> Response {
    let text = inner.lock().unwrap().violations.record(what);
    (status, text).into_response()
}

async fn unknown(State((inner, _)): Ctx, request: axum::extract::Request) -> Response {
    let what = format!("unknown endpoint {} {}", request.method(), request.uri());
    refuse(&inner, StatusCode::NOT_FOUND, what)
}

async fn me(State((inner, _)): Ctx, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let caller = match authenticate(&inner, &method, &uri, &headers, true) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    see(&inner, "me", String::new());
    let (username, roles) = match caller {
        Caller::Anonymous => ("anonymous", vec!["ROLE_ANONYMOUS"]),
        Caller::User(user) => (user, roles(user)),
    };
    axum::Json(json!({
        "org": {"id": "mh_default_org", "name": "Opencast Project"},
        "roles": roles,
        "userRole": format!("ROLE_USER_{}", username.to_uppercase()),
        "user": {"provider": "opencast", "name": username, "username": username}
    }))
    .into_response()
}

async fn available(
    State((inner, origin)): Ctx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(answer) = agent(&inner, &method, &uri, &headers) {
        return *answer;
    }
    let Some(service_type) = query.get("serviceType") else {
        return refuse(&inner, StatusCode::BAD_REQUEST, "no serviceType".into());
    };
    let path = match service_type.as_str() {
        "org.opencastproject.capture.admin" => "/capture-admin",
        "org.opencastproject.scheduler" => "/recordings",
        "org.opencastproject.ingest" => "/ingest",
        other => {
            return refuse(
                &inner,
                StatusCode::BAD_REQUEST,
                format!("asked for {other}"),
            );
        }
    };
    see(&inner, "registry", service_type.clone());
    let shape = inner
        .lock()
        .unwrap()
        .shape
        .get(service_type)
        .copied()
        .unwrap_or(RegistryShape::Object);
    let registration = |host: &str, online: bool| {
        json!({"type": service_type, "host": host, "path": path, "active": true,
               "online": online, "maintenance": false, "jobproducer": false,
               "onlinefrom": "2025-03-01T08:00:00Z", "service_state": "NORMAL"})
    };
    let services = match shape {
        RegistryShape::Object => json!({"service": registration(&origin, true)}),
        // The registry lists an offline worker first: only this server may be used.
        RegistryShape::Array => json!({"service": [
            registration("http://127.0.0.1:9", false),
            registration(&origin, true),
        ]}),
        RegistryShape::Empty => json!(""),
    };
    axum::Json(json!({"services": services})).into_response()
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Agent names Opencast registers without trouble (others broke registrations in the field).
fn good_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

async fn agent_state(
    State((inner, _)): Ctx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(answer) = agent(&inner, &method, &uri, &headers) {
        return *answer;
    }
    if !good_name(&name) {
        return refuse(
            &inner,
            StatusCode::BAD_REQUEST,
            format!("agent name {name:?}"),
        );
    }
    let fields = form(&body);
    let Some(state) = field(&fields, "state") else {
        return refuse(
            &inner,
            StatusCode::BAD_REQUEST,
            "agent state without state".into(),
        );
    };
    if !KNOWN_AGENT_STATES.contains(&state) {
        return refuse(
            &inner,
            StatusCode::BAD_REQUEST,
            format!("unknown agent state {state}"),
        );
    }
    let address = field(&fields, "address").map(str::to_string);
    see(&inner, "agent", format!("{name} {state}"));
    inner
        .lock()
        .unwrap()
        .agent_states
        .push((name.clone(), state.to_string(), address));
    format!("{name} set to {state}").into_response()
}

async fn agent_configuration(
    State((inner, _)): Ctx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(answer) = agent(&inner, &method, &uri, &headers) {
        return *answer;
    }
    let fields = form(&body);
    let Some(text) = field(&fields, "configuration") else {
        return refuse(
            &inner,
            StatusCode::BAD_REQUEST,
            "no configuration field".into(),
        );
    };
    // Opencast reads JSON into java.util.Properties: only string values read back.
    let parsed: Result<BTreeMap<String, Value>, _> = serde_json::from_str(text);
    let Ok(map) = parsed else {
        return refuse(
            &inner,
            StatusCode::BAD_REQUEST,
            format!("configuration {text:?}"),
        );
    };
    let mut properties = BTreeMap::new();
    for (k, v) in map {
        let Value::String(s) = v else {
            return refuse(
                &inner,
                StatusCode::BAD_REQUEST,
                format!("{k} is not a string"),
            );
        };
        properties.insert(k, s);
    }
    see(&inner, "configuration", name.clone());
    inner
        .lock()
        .unwrap()
        .configurations
        .push((name, properties.clone()));
    axum::Json(properties).into_response()
}

async fn recording_state(
    State((inner, _)): Ctx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(answer) = agent(&inner, &method, &uri, &headers) {
        return *answer;
    }
    let fields = form(&body);
    let Some(state) = field(&fields, "state") else {
        return refuse(
            &inner,
            StatusCode::BAD_REQUEST,
            "recording state without state".into(),
        );
    };
    if !KNOWN_RECORDING_STATES.contains(&state) {
        return refuse(
            &inner,
            StatusCode::BAD_REQUEST,
            format!("unknown state {state}"),
        );
    }
    if !inner.lock().unwrap().events.iter().any(|e| e.uid == id) {
        // Opencast answers 404 for ids that are not scheduled events; a well-behaved
        // agent never sends these for ad-hoc recordings.
        let what = format!("recording state {state} for {id}, which is not a scheduled event");
        return refuse(&inner, StatusCode::NOT_FOUND, what);
    }
    see(&inner, "recording", format!("{id} {state}"));
    inner
        .lock()
        .unwrap()
        .recording_states
        .push((id.clone(), state.to_string()));
    format!("{id} set to {state}").into_response()
}

/// Folds a content line at 75 octets, by bytes, as ical4j does.
fn fold(line: &str, out: &mut Vec<u8>) {
    for (i, chunk) in line.as_bytes().chunks(74).enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n ");
        }
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(b"\r\n");
}

fn ical_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y%m%dT%H%M%SZ")
        .to_string()
}

fn render_calendar(events: &[&Scheduled], agent: &str) -> Vec<u8> {
    let b64 = |t: &str| base64::engine::general_purpose::STANDARD.encode(t.as_bytes());
    let mut out = Vec::new();
    for line in [
        "BEGIN:VCALENDAR",
        "PRODID:Opencast Calendar File 0.5",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
    ] {
        fold(line, &mut out);
    }
    for e in events {
        let episode = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><dublincore \
             xmlns=\"http://www.opencastproject.org/xsd/1.0/dublincore/\" \
             xmlns:dcterms=\"http://purl.org/dc/terms/\"><dcterms:title>{}</dcterms:title>\
             <dcterms:spatial>{agent}</dcterms:spatial></dublincore>",
            e.title
        );
        for line in [
            "BEGIN:VEVENT".to_string(),
            format!("DTSTAMP:{}", ical_time(now_ms())),
            format!("DTSTART:{}", ical_time(e.start_ms)),
            format!("DTEND:{}", ical_time(e.end_ms)),
            format!(
                "SUMMARY:{}",
                e.title.replace(',', "\\,").replace(';', "\\;")
            ),
            format!("UID:{}", e.uid),
            format!("LAST-MODIFIED:{}", ical_time(now_ms())),
            format!("LOCATION:{agent}"),
            format!(
                "ATTACH;FMTTYPE=application/xml;VALUE=BINARY;ENCODING=BASE64;X-APPLE-FILENAME=episode.xml:{}",
                b64(&episode)
            ),
            format!(
                "ATTACH;FMTTYPE=application/text;VALUE=BINARY;ENCODING=BASE64;X-APPLE-FILENAME=org.opencastproject.capture.agent.properties:{}",
                b64(&e.properties)
            ),
            "END:VEVENT".to_string(),
        ] {
            fold(&line, &mut out);
        }
    }
    fold("END:VCALENDAR", &mut out);
    out
}

async fn calendars(
    State((inner, _)): Ctx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(answer) = agent(&inner, &method, &uri, &headers) {
        return *answer;
    }
    let Some(agent_id) = query.get("agentid").cloned() else {
        return refuse(
            &inner,
            StatusCode::BAD_REQUEST,
            "calendar without agentid".into(),
        );
    };
    let cutoff_ms: i64 = match query.get("cutoff").map(|c| c.parse()) {
        Some(Ok(c)) => c,
        None => 0,
        Some(Err(_)) => {
            return refuse(
                &inner,
                StatusCode::BAD_REQUEST,
                "cutoff not a number".into(),
            );
        }
    };
    let now = now_ms();
    if cutoff_ms != 0 && cutoff_ms < now {
        // Opencast reads the cutoff as an absolute time: "14 days from now" sent as a
        // duration lies in 1970 and returns no event at all.
        let what = format!("cutoff {cutoff_ms} lies in the past: it is an absolute time in ms");
        return refuse(&inner, StatusCode::BAD_REQUEST, what);
    }
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut guard = inner.lock().unwrap();
    let etag = format!("mod{}", guard.modified_ms);
    // Plain string equality, as Opencast compares.
    let status = if if_none_match.as_deref() == Some(etag.as_str()) {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    guard.calendar_requests.push(CalendarRequest {
        cutoff_ms,
        if_none_match,
        status: status.as_u16(),
    });
    guard.seen.push(Seen {
        what: "calendar".into(),
        detail: status.as_u16().to_string(),
    });
    if status == StatusCode::NOT_MODIFIED {
        return (status, [(header::ETAG, format!("\"{etag}\""))]).into_response();
    }
    let hour = 3_600_000;
    let events: Vec<&Scheduled> = guard
        .events
        .iter()
        .filter(|e| (cutoff_ms == 0 || e.start_ms <= cutoff_ms) && e.end_ms >= now - hour)
        .collect();
    let body = render_calendar(&events, &agent_id);
    (
        [
            (
                header::CONTENT_TYPE,
                "text/calendar; charset=UTF-8".to_string(),
            ),
            (header::ETAG, etag),
        ],
        body,
    )
        .into_response()
}
