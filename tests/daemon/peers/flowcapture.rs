//! A Flow Capture service on loopback: the API endpoints the publisher uses (JSON `POST`s
//! below `/api/v2/`, a bearer token from `/authenticate/api`) and the object storage behind
//! the presigned part URLs it hands out. Every request is checked as the service and S3
//! would check it; what a real service would refuse is answered with an error and recorded
//! as a violation, so a test can assert there were none.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use base64::Engine as _;
use md5::{Digest as _, Md5};
use serde_json::{Map, Value, json};

use super::kit::{FailNext, Server, Violations};

pub const EMAIL: &str = "capture@uni.example";
pub const API_KEY: &str = "fc-key-5f0c2a9e71d34b88";
/// The folder tests publish to, in production 7.
pub const PROJECT_ID: u64 = 1001;
const MIN_PART: usize = 5 * 1024 * 1024;
/// Presigned part URLs are valid for five minutes from issue.
const URL_LIFETIME: Duration = Duration::from_secs(300);

/// An asset as the service holds it.
#[derive(Debug, Clone)]
pub struct Asset {
    pub id: u64,
    pub filename: String,
    pub project_id: String,
    pub batch_name: Option<String>,
    /// The parts joined in part order.
    pub bytes: Vec<u8>,
    pub parts: usize,
    /// `/complete/upload` took its key.
    pub ingested: bool,
    /// What `/update/asset` set (everything but `id`).
    pub metadata: Map<String, Value>,
    pub comments: Vec<Value>,
}

struct Upload {
    key: String,
    project_id: String,
    filename: String,
    /// Part number → (ETag, bytes), as last PUT.
    parts: BTreeMap<u32, (String, Vec<u8>)>,
    asset: Option<u64>,
    aborted: bool,
}

struct Presigned {
    upload_id: String,
    part: u32,
    content_md5: String,
    issued: Instant,
}

#[derive(Default)]
struct Inner {
    tokens: HashSet<String>,
    next_id: u64,
    violations: Violations,
    auth_failures: usize,
    uploads: HashMap<String, Upload>,
    presigned: HashMap<String, Presigned>,
    assets: Vec<Asset>,
    /// PUTs to answer with 500.
    fail_puts: FailNext,
    /// (filename, part number) of every PUT that was stored.
    stored_parts: Vec<(String, u32)>,
    in_flight: usize,
    max_in_flight: usize,
    /// PUTs of this (filename, part) hang until released, then fail without storing.
    stall: Option<(String, u32)>,
    stalled: usize,
    repeated_completes: usize,
}

impl Inner {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Records a violation and answers it the way the service would.
    fn refuse(&mut self, status: StatusCode, what: String) -> Response {
        error(status, &self.violations.record(what))
    }

    fn refused(&mut self, status: StatusCode, what: String) -> Refused {
        Box::new(self.refuse(status, what))
    }

    fn asset_mut(&mut self, id: &Value) -> Option<&mut Asset> {
        let id = id_text(id)?;
        self.assets.iter_mut().find(|a| a.id.to_string() == id)
    }
}

type Shared = Arc<Mutex<Inner>>;
/// The answer to give instead of going on (boxed: responses are large).
type Refused = Box<Response>;

pub struct Peer {
    /// The API root to configure as `baseUrl`.
    pub base_url: String,
    inner: Shared,
    _server: Server,
}

impl Peer {
    pub async fn start() -> Peer {
        let inner: Shared = Arc::default();
        let state = inner.clone();
        let server = Server::start(|origin| {
            let api = Router::new()
                .route("/authenticate/api", post(authenticate))
                .route("/get/groups", post(groups))
                .route("/get/projects", post(projects))
                .route("/upload/asset/init", post(init))
                .route("/upload/asset/part", post(part))
                .route("/upload/asset/abort", post(abort))
                .route("/upload/asset/complete", post(complete))
                .route("/complete/upload", post(complete_upload))
                .route("/update/asset", post(update_asset))
                .route("/create/comment", post(create_comment));
            Router::new()
                .nest("/api/v2", api)
                .route("/s3/{*key}", put(put_part))
                .fallback(unknown)
                .with_state((state, origin.to_string()))
        })
        .await;
        Peer {
            base_url: format!("{}/api/v2", server.origin),
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

    /// Assets in the order they were created.
    pub fn assets(&self) -> Vec<Asset> {
        self.lock().assets.clone()
    }

    /// Makes the next `n` part PUTs answer 500 (after reading the body, as S3 does).
    pub fn fail_next_puts(&self, n: usize) {
        self.lock().fail_puts.arm(n);
    }

    pub fn failed_puts(&self) -> usize {
        self.lock().fail_puts.failed()
    }

    /// (filename, part number) of every part PUT that was stored, in arrival order.
    pub fn stored_parts(&self) -> Vec<(String, u32)> {
        self.lock().stored_parts.clone()
    }

    pub fn max_parts_in_flight(&self) -> usize {
        self.lock().max_in_flight
    }

    /// Makes PUTs of part `part` of `filename` hang (a connection that dies mid-part).
    pub fn stall_part(&self, filename: &str, part: u32) {
        self.lock().stall = Some((filename.to_string(), part));
    }

    /// Lets stalled PUTs end (with an error; they never store their part).
    pub fn release_stalls(&self) {
        self.lock().stall = None;
    }

    pub fn stalled_puts(&self) -> usize {
        self.lock().stalled
    }

    pub fn auth_failures(&self) -> usize {
        self.lock().auth_failures
    }

    pub fn tokens_issued(&self) -> usize {
        self.lock().tokens.len()
    }

    pub fn repeated_completes(&self) -> usize {
        self.lock().repeated_completes
    }
}

type Ctx = State<(Shared, String)>;

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"error": message}))).into_response()
}

fn ok(value: Value) -> Response {
    axum::Json(value).into_response()
}

fn id_text(id: &Value) -> Option<String> {
    match id {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn md5_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(bytes))
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The JSON body of an API call, after checking the content type and the bearer token;
/// `Err` is the answer to give.
fn api_call(
    inner: &mut Inner,
    endpoint: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, Refused> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token {
        Some(t) if inner.tokens.contains(t) => {}
        Some(_) => {
            return Err(inner.refused(
                StatusCode::UNAUTHORIZED,
                format!("{endpoint}: unknown token"),
            ));
        }
        None => {
            return Err(inner.refused(StatusCode::UNAUTHORIZED, format!("{endpoint}: no token")));
        }
    }
    json_body(inner, endpoint, headers, body)
}

fn json_body(
    inner: &mut Inner,
    endpoint: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, Refused> {
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_type {
        return Err(inner.refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("{endpoint}: body is not application/json"),
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(inner.refused(
            StatusCode::BAD_REQUEST,
            format!("{endpoint}: body is not a JSON object"),
        )),
    }
}

/// A required non-empty string parameter.
fn text<'a>(
    inner: &mut Inner,
    endpoint: &str,
    body: &'a Value,
    name: &str,
) -> Result<&'a str, Refused> {
    match body[name].as_str() {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(inner.refused(
            StatusCode::BAD_REQUEST,
            format!("{endpoint}: {name} missing or not a string"),
        )),
    }
}

/// Projects: (id, name, group id).
const PROJECTS: &[(u64, &str, u64)] = &[
    (PROJECT_ID, "Lecture hall A", 7),
    (1002, "Lecture hall B", 7),
    (2001, "Archive", 8),
];
const GROUPS: &[(u64, &str)] = &[(7, "Autumn term"), (8, "Old recordings")];

fn project_exists(id: &Value) -> bool {
    id_text(id).is_some_and(|id| PROJECTS.iter().any(|p| p.0.to_string() == id))
}

async fn authenticate(
    State((inner, _)): Ctx,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut inner = inner.lock().unwrap();
    let body = match json_body(&mut inner, "authenticate/api", &headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    if body["email"] != EMAIL || body["api_key"] != API_KEY {
        inner.auth_failures += 1;
        return error(StatusCode::UNAUTHORIZED, "invalid email or api key");
    }
    let n = inner.id();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let token = format!("tok{n}-{nanos:x}");
    inner.tokens.insert(token.clone());
    ok(json!({"token": token}))
}

async fn groups(State((inner, _)): Ctx, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let mut inner = inner.lock().unwrap();
    if let Err(r) = api_call(&mut inner, "get/groups", &headers, &body) {
        return *r;
    }
    ok(GROUPS
        .iter()
        .map(|(id, name)| json!({"id": id, "name": name}))
        .collect())
}

async fn projects(State((inner, _)): Ctx, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let mut inner = inner.lock().unwrap();
    let body = match api_call(&mut inner, "get/projects", &headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let group = match &body["group_id"] {
        Value::Null => None,
        g => match id_text(g) {
            Some(g) => Some(g),
            None => {
                return inner.refuse(
                    StatusCode::BAD_REQUEST,
                    "get/projects: group_id is not an id".into(),
                );
            }
        },
    };
    ok(PROJECTS
        .iter()
        .filter(|p| group.as_ref().is_none_or(|g| p.2.to_string() == *g))
        .map(|(id, name, group)| {
            json!({"id": id, "name": name, "group_id": group, "parent_project_id": null})
        })
        .collect())
}

async fn init(State((inner, _)): Ctx, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let endpoint = "upload/asset/init";
    let mut inner = inner.lock().unwrap();
    let body = match api_call(&mut inner, endpoint, &headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    // Without an immediates connection the project comes from the request.
    if !project_exists(&body["project_id"]) {
        return inner.refuse(
            StatusCode::NOT_FOUND,
            format!("{endpoint}: no project {}", body["project_id"]),
        );
    }
    let filename = match text(&mut inner, endpoint, &body, "filename") {
        Ok(f) => f.to_string(),
        Err(r) => return *r,
    };
    let n = inner.id();
    let upload_id = format!("s3-upload-{n}-{}", md5_hex(filename.as_bytes()));
    let key = format!("incoming/{n}/{filename}");
    inner.uploads.insert(
        upload_id.clone(),
        Upload {
            key: key.clone(),
            project_id: id_text(&body["project_id"]).unwrap(),
            filename,
            parts: BTreeMap::new(),
            asset: None,
            aborted: false,
        },
    );
    ok(json!({"upload_id": upload_id, "key": key}))
}

/// The open upload named by `upload_id` and `key`; `Err` is the answer to give.
fn open_upload(inner: &mut Inner, endpoint: &str, body: &Value) -> Result<String, Refused> {
    let upload_id = body["upload_id"].as_str().unwrap_or_default().to_string();
    let key = body["key"].as_str().unwrap_or_default();
    let found = inner
        .uploads
        .get(&upload_id)
        .map(|u| (u.key == key, u.aborted));
    match found {
        Some((true, false)) => Ok(upload_id),
        Some((false, _)) => Err(inner.refused(
            StatusCode::BAD_REQUEST,
            format!("{endpoint}: key {key:?} is not the key of {upload_id}"),
        )),
        Some((true, true)) => Err(inner.refused(
            StatusCode::NOT_FOUND,
            format!("{endpoint}: upload {upload_id} was aborted"),
        )),
        None => Err(inner.refused(
            StatusCode::NOT_FOUND,
            format!("{endpoint}: no upload {upload_id:?}"),
        )),
    }
}

async fn part(
    State((inner, origin)): Ctx,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let endpoint = "upload/asset/part";
    let mut inner = inner.lock().unwrap();
    let body = match api_call(&mut inner, endpoint, &headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let upload_id = match open_upload(&mut inner, endpoint, &body) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let part = match body["part_number"].as_u64() {
        Some(p @ 1..=10_000) => p as u32,
        _ => {
            return inner.refuse(
                StatusCode::BAD_REQUEST,
                format!(
                    "{endpoint}: part_number {} is not 1 to 10000",
                    body["part_number"]
                ),
            );
        }
    };
    let content_md5 = body["content_md5"].as_str().unwrap_or_default().to_string();
    let decoded = base64::engine::general_purpose::STANDARD.decode(&content_md5);
    if decoded.map(|d| d.len()) != Ok(16) {
        return inner.refuse(
            StatusCode::BAD_REQUEST,
            format!("{endpoint}: content_md5 {content_md5:?} is not a base64 MD5"),
        );
    }
    let signature = format!("{:032x}", inner.id() as u128 * 0x9e37_79b9_7f4a_7c15);
    let key = inner.uploads[&upload_id].key.clone();
    let mut url = url::Url::parse(&origin).unwrap();
    url.path_segments_mut()
        .unwrap()
        .push("s3")
        .extend(key.split('/'));
    url.query_pairs_mut()
        .append_pair("uploadId", &upload_id)
        .append_pair("partNumber", &part.to_string())
        .append_pair("X-Amz-Expires", "300")
        .append_pair("X-Amz-Signature", &signature);
    inner.presigned.insert(
        signature,
        Presigned {
            upload_id,
            part,
            content_md5,
            issued: Instant::now(),
        },
    );
    ok(json!({"presigned_url": url.as_str()}))
}

/// Decrements the in-flight count when a PUT ends, however it ends.
struct InFlight(Shared);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.lock().unwrap().in_flight -= 1;
    }
}

/// Whether the PUT signed with `signature` is one to stall (counted when it is).
fn stalls(inner: &Shared, signature: &str) -> bool {
    let mut inner = inner.lock().unwrap();
    let target = inner.presigned.get(signature).and_then(|p| {
        let upload = inner.uploads.get(&p.upload_id)?;
        Some((upload.filename.clone(), p.part))
    });
    let stall = target.is_some() && target == inner.stall;
    if stall {
        inner.stalled += 1;
    }
    stall
}

async fn put_part(
    State((inner, _)): Ctx,
    Path(key): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    {
        let mut i = inner.lock().unwrap();
        i.in_flight += 1;
        i.max_in_flight = i.max_in_flight.max(i.in_flight);
    }
    let _in_flight = InFlight(inner.clone());
    let headers = request.headers().clone();
    let body = match axum::body::to_bytes(request.into_body(), 64 * 1024 * 1024).await {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("body: {e}")),
    };
    let signature = query.get("X-Amz-Signature").cloned().unwrap_or_default();
    if stalls(&inner, &signature) {
        while inner.lock().unwrap().stall.is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        return error(StatusCode::SERVICE_UNAVAILABLE, "SlowDown");
    }
    let mut inner = inner.lock().unwrap();
    let what = format!("PUT part of {key}");
    let Some(presigned) = inner.presigned.get(&signature) else {
        return inner.refuse(StatusCode::FORBIDDEN, format!("{what}: unknown signature"));
    };
    let (upload_id, part, expected_md5, issued) = (
        presigned.upload_id.clone(),
        presigned.part,
        presigned.content_md5.clone(),
        presigned.issued,
    );
    if issued.elapsed() > URL_LIFETIME {
        return inner.refuse(StatusCode::FORBIDDEN, format!("{what}: URL expired"));
    }
    if query.get("uploadId") != Some(&upload_id)
        || query.get("partNumber") != Some(&part.to_string())
        || inner.uploads.get(&upload_id).map(|u| u.key.as_str()) != Some(key.as_str())
    {
        return inner.refuse(
            StatusCode::FORBIDDEN,
            format!("{what}: URL does not match its signature"),
        );
    }
    // A presigned URL is the only credential S3 allows on the request.
    if headers.contains_key(header::AUTHORIZATION) {
        return inner.refuse(
            StatusCode::BAD_REQUEST,
            format!("{what}: Authorization header next to a presigned URL"),
        );
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return inner.refuse(
            StatusCode::NOT_IMPLEMENTED,
            format!("{what}: chunked transfer encoding"),
        );
    }
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if length != Some(body.len()) {
        return inner.refuse(
            StatusCode::LENGTH_REQUIRED,
            format!("{what}: Content-Length {length:?} for {} bytes", body.len()),
        );
    }
    let header_md5 = headers
        .get("content-md5")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if header_md5 != expected_md5 {
        return inner.refuse(
            StatusCode::FORBIDDEN,
            format!("{what}: Content-MD5 {header_md5:?} is not the signed {expected_md5:?}"),
        );
    }
    if md5_base64(&body) != header_md5 {
        return inner.refuse(
            StatusCode::BAD_REQUEST,
            format!("{what}: Content-MD5 does not match the body (BadDigest)"),
        );
    }
    if inner.fail_puts.fire() {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError");
    }
    let etag = format!("\"{}\"", md5_hex(&body));
    let upload = inner.uploads.get_mut(&upload_id).unwrap();
    upload.parts.insert(part, (etag.clone(), body.to_vec()));
    let filename = upload.filename.clone();
    inner.stored_parts.push((filename, part));
    (StatusCode::OK, [(header::ETAG, etag)]).into_response()
}

async fn abort(State((inner, _)): Ctx, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let endpoint = "upload/asset/abort";
    let mut inner = inner.lock().unwrap();
    let body = match api_call(&mut inner, endpoint, &headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    match open_upload(&mut inner, endpoint, &body) {
        Ok(upload_id) => {
            inner.uploads.get_mut(&upload_id).unwrap().aborted = true;
            ok(json!({"ok": true}))
        }
        Err(r) => *r,
    }
}

/// What S3 and the service would refuse in an `/upload/asset/complete`.
fn completion_problems(upload: &Upload, body: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if body["filename"].as_str() != Some(upload.filename.as_str()) {
        problems.push(format!(
            "filename {} is not the init's {:?}",
            body["filename"], upload.filename
        ));
    }
    if id_text(&body["project_id"]).as_deref() != Some(upload.project_id.as_str()) {
        problems.push(format!(
            "project_id {} is not the init's {}",
            body["project_id"], upload.project_id
        ));
    }
    let etags: Vec<&str> = match body["etags"].as_array() {
        Some(list) => list.iter().map(|e| e.as_str().unwrap_or("")).collect(),
        None => {
            problems.push("etags is not an array".into());
            Vec::new()
        }
    };
    let numbers: Vec<u32> = upload.parts.keys().copied().collect();
    let expected: Vec<u32> = (1..=numbers.len() as u32).collect();
    if numbers.is_empty() || numbers != expected {
        problems.push(format!("parts {numbers:?} are not 1..n"));
    }
    if etags.len() != numbers.len() {
        problems.push(format!("{} etags for {} parts", etags.len(), numbers.len()));
    }
    for (i, (number, (etag, bytes))) in upload.parts.iter().enumerate() {
        if etags.get(i).copied() != Some(etag.as_str()) {
            problems.push(format!(
                "etag {i} is {:?}, part {number} has {etag}",
                etags.get(i)
            ));
        }
        if bytes.len() < MIN_PART && i + 1 < upload.parts.len() {
            problems.push(format!(
                "part {number} is {} bytes, below 5 MiB and not the last (EntityTooSmall)",
                bytes.len()
            ));
        }
    }
    problems
}

async fn complete(State((inner, _)): Ctx, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let endpoint = "upload/asset/complete";
    let mut inner = inner.lock().unwrap();
    let body = match api_call(&mut inner, endpoint, &headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let upload_id = match open_upload(&mut inner, endpoint, &body) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let upload = &inner.uploads[&upload_id];
    let problems = completion_problems(upload, &body);
    let (filename, previous) = (upload.filename.clone(), upload.asset);
    if !problems.is_empty() {
        return inner.refuse(
            StatusCode::BAD_REQUEST,
            format!("{endpoint} of {filename}: {}", problems.join("; ")),
        );
    }
    if let Some(asset) = previous {
        // The same upload completed again (a client that lost the answer): same asset.
        inner.repeated_completes += 1;
        return ok(json!({"asset_id": asset}));
    }
    let upload = &inner.uploads[&upload_id];
    let project_id = upload.project_id.clone();
    let bytes: Vec<u8> = upload
        .parts
        .values()
        .flat_map(|(_, b)| b.iter().copied())
        .collect();
    let parts = upload.parts.len();
    if inner
        .assets
        .iter()
        .any(|a| a.filename == filename && a.project_id == project_id)
    {
        inner
            .violations
            .record(format!("{endpoint}: a second asset for {filename}"));
    }
    let id = inner.id() + 50_000;
    inner.uploads.get_mut(&upload_id).unwrap().asset = Some(id);
    inner.assets.push(Asset {
        id,
        filename,
        project_id,
        batch_name: body["batch_name"].as_str().map(str::to_string),
        bytes,
        parts,
        ingested: false,
        metadata: Map::new(),
        comments: Vec::new(),
    });
    ok(json!({"asset_id": id}))
}

async fn complete_upload(
    State((inner, _)): Ctx,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let endpoint = "complete/upload";
    let mut inner = inner.lock().unwrap();
    let body = match api_call(&mut inner, endpoint, &headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let keys: Vec<String> = body["keys"]
        .as_array()
        .map(|k| {
            k.iter()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if keys.is_empty() {
        return inner.refuse(StatusCode::BAD_REQUEST, format!("{endpoint}: no keys"));
    }
    let mut assets = Vec::new();
    for key in &keys {
        let asset = inner
            .uploads
            .values()
            .find(|u| &u.key == key)
            .and_then(|u| u.asset);
        match asset {
            Some(a) => assets.push(a),
            None => {
                return inner.refuse(
                    StatusCode::BAD_REQUEST,
                    format!("{endpoint}: key {key} has no completed upload"),
                );
            }
        }
    }
    let batch = body["batch_name"].as_str().map(str::to_string);
    let project = id_text(&body["project_id"]);
    for id in assets {
        let asset = inner.assets.iter_mut().find(|a| a.id == id).unwrap();
        let mismatch = if project.as_deref() != Some(asset.project_id.as_str()) {
            Some(format!(
                "project_id {project:?} is not {}",
                asset.project_id
            ))
        } else if batch != asset.batch_name {
            Some(format!(
                "batch_name {batch:?} is not {:?}",
                asset.batch_name
            ))
        } else {
            None
        };
        if let Some(m) = mismatch {
            return inner.refuse(StatusCode::BAD_REQUEST, format!("{endpoint}: {m}"));
        }
        asset.ingested = true;
    }
    ok(json!({"ok": true}))
}

async fn update_asset(
    State((inner, _)): Ctx,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let endpoint = "update/asset";
    let mut inner = inner.lock().unwrap();
    let body = match api_call(&mut inner, endpoint, &headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let tags_ok = match &body["tags"] {
        Value::Null => true,
        Value::Array(tags) => tags.iter().all(Value::is_string),
        _ => false,
    };
    if !tags_ok {
        return inner.refuse(
            StatusCode::BAD_REQUEST,
            format!("{endpoint}: tags is not a list of strings"),
        );
    }
    match inner.asset_mut(&body["id"]) {
        Some(asset) if asset.ingested => {
            for (k, v) in body.as_object().unwrap() {
                if k != "id" {
                    asset.metadata.insert(k.clone(), v.clone());
                }
            }
            ok(json!({"updated": true}))
        }
        _ => inner.refuse(
            StatusCode::NOT_FOUND,
            format!("{endpoint}: no ingested asset {}", body["id"]),
        ),
    }
}

async fn create_comment(
    State((inner, _)): Ctx,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let endpoint = "create/comment";
    let mut inner = inner.lock().unwrap();
    let body = match api_call(&mut inner, endpoint, &headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    if let Err(r) = text(&mut inner, endpoint, &body, "description") {
        return *r;
    }
    let has_marker = match &body["has_marker"] {
        Value::Null => false,
        Value::Bool(b) => *b,
        _ => {
            return inner.refuse(
                StatusCode::BAD_REQUEST,
                format!("{endpoint}: has_marker is not a boolean"),
            );
        }
    };
    if has_marker && !body["marker_time"].as_f64().is_some_and(|t| t >= 0.0) {
        return inner.refuse(
            StatusCode::BAD_REQUEST,
            format!(
                "{endpoint}: marker_time {} is not seconds",
                body["marker_time"]
            ),
        );
    }
    if let Some(color) = body.get("color").filter(|c| !c.is_null()) {
        let valid = color.as_str().is_some_and(|c| {
            c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|x| x.is_ascii_hexdigit())
        });
        if !valid {
            return inner.refuse(
                StatusCode::BAD_REQUEST,
                format!("{endpoint}: color {color} is not #rrggbb"),
            );
        }
    }
    if body["is_reply"] == true {
        return inner.refuse(
            StatusCode::BAD_REQUEST,
            format!("{endpoint}: a reply without a parent"),
        );
    }
    let comment_id = inner.id();
    let Some(asset) = inner.asset_mut(&body["asset_id"]).filter(|a| a.ingested) else {
        return inner.refuse(
            StatusCode::NOT_FOUND,
            format!("{endpoint}: no ingested asset {}", body["asset_id"]),
        );
    };
    let comment = json!({
        "id": comment_id,
        "description": body["description"],
        "color": body.get("color").cloned().unwrap_or(json!("#ffcc00")),
        "has_marker": has_marker,
        "marker_time": body["marker_time"],
        "has_drawing": false,
        "is_reply": false,
        "parent_id": null,
        "has_reply": false,
        "asset_id": asset.id,
        "project_id": asset.project_id,
        "type": "COMMENT",
        "user_first_name": "Capture",
        "user_last_name": "Unit",
    });
    asset.comments.push(comment.clone());
    ok(comment)
}

async fn unknown(State((inner, _)): Ctx, request: Request<Body>) -> Response {
    let what = format!("{} {}: no such endpoint", request.method(), request.uri());
    inner.lock().unwrap().refuse(StatusCode::NOT_FOUND, what)
}
