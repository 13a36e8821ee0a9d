//! An Opencast server on loopback: the multi-request ingest endpoints
//! (`/ingest/createMediaPackage`, `addDCCatalog`, `addTrack`, `ingest/{workflow}`),
//! `/info/me.json`, `/workflow/definitions.json` and a package's current workflow, behind
//! HTTP Basic. Requests are checked as Opencast checks them and more strictly where a
//! mistake would lose data without Opencast noticing: the media package sent must be one
//! this server created and carry every element added so far (the latest copy), catalogs
//! must be well-formed Dublin Core, the file must come after the form fields it depends on,
//! and nothing is ingested twice. Violations are answered with an error and recorded.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use md5::{Digest as _, Md5};
use quick_xml::escape::escape;
use quick_xml::events::Event;
use serde_json::json;

use super::kit::{FailNext, Server, Violations};

pub const USERNAME: &str = "capture-agent";
pub const PASSWORD: &str = "oc-ingest-7d41e0";
/// Workflow definitions the server offers: (id, title).
pub const WORKFLOWS: &[(&str, &str)] = &[
    ("fast", "Fast Testing Workflow"),
    ("schedule-and-upload", "Process upon upload and schedule"),
];
/// The workflow `POST /ingest/ingest` without an id starts.
const DEFAULT_WORKFLOW: &str = "schedule-and-upload";
const MP_NAMESPACE: &str = "http://mediapackage.opencastproject.org";
const WF_NAMESPACE: &str = "http://workflow.opencastproject.org";
pub const DC_NAMESPACE: &str = "http://www.opencastproject.org/xsd/1.0/dublincore/";
pub const DCTERMS_NAMESPACE: &str = "http://purl.org/dc/terms/";

/// A track or attachment as the server stored it.
#[derive(Debug, Clone)]
pub struct Track {
    pub media_package: String,
    pub id: String,
    pub flavor: String,
    pub filename: String,
    pub mime: String,
    pub bytes: Vec<u8>,
}

/// An episode catalog as received, with what it says.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub media_package: String,
    pub text: String,
    /// dcterms local name → values, in document order.
    pub terms: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct Ingest {
    pub media_package: String,
    pub workflow: String,
    /// Every form field but `mediaPackage`: the workflow configuration.
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Track,
    Catalog,
    Attachment,
}

impl Kind {
    fn tag(&self) -> &'static str {
        match self {
            Kind::Track => "track",
            Kind::Catalog => "catalog",
            Kind::Attachment => "attachment",
        }
    }

    fn endpoint(&self) -> &'static str {
        match self {
            Kind::Track => "addTrack",
            Kind::Catalog => "addDCCatalog",
            Kind::Attachment => "addAttachment",
        }
    }
}

#[derive(Debug, Clone)]
struct Element {
    id: String,
    kind: Kind,
    flavor: String,
    mime: String,
    filename: String,
    md5: Option<String>,
}

struct Package {
    start: String,
    elements: Vec<Element>,
    workflow: Option<u64>,
}

#[derive(Default)]
struct Inner {
    packages: HashMap<String, Package>,
    next_workflow: u64,
    violations: Violations,
    auth_failures: usize,
    created: usize,
    tracks: Vec<Track>,
    attachments: Vec<Track>,
    catalogs: Vec<Catalog>,
    ingests: Vec<Ingest>,
    /// addTrack calls to answer with 500.
    fail_tracks: FailNext,
}

impl Inner {
    fn refuse(&mut self, status: StatusCode, what: String) -> Response {
        (status, self.violations.record(what)).into_response()
    }
}

type Shared = Arc<Mutex<Inner>>;
type Ctx = State<(Shared, String)>;

pub struct Peer {
    /// The server URL to configure as `url`.
    pub url: String,
    inner: Shared,
    _server: Server,
}

impl Peer {
    pub async fn start() -> Peer {
        let inner: Shared = Arc::default();
        let state = inner.clone();
        let server = Server::start(|origin| {
            Router::new()
                .route("/info/me.json", get(me))
                .route("/workflow/definitions.json", get(definitions))
                .route(
                    "/workflow/mediaPackage/{id}/currentInstance.json",
                    get(current_instance),
                )
                .route("/ingest/createMediaPackage", get(create))
                .route("/ingest/addDCCatalog", post(add_catalog))
                .route("/ingest/addTrack", post(add_track))
                .route("/ingest/addAttachment", post(add_attachment))
                .route("/ingest/ingest", post(ingest_default))
                .route("/ingest/ingest/{workflow}", post(ingest))
                .fallback(unknown)
                .layer(DefaultBodyLimit::max(1 << 30))
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

    pub fn auth_failures(&self) -> usize {
        self.lock().auth_failures
    }

    /// How many media packages were created.
    pub fn created(&self) -> usize {
        self.lock().created
    }

    /// Tracks in the order they were stored.
    pub fn tracks(&self) -> Vec<Track> {
        self.lock().tracks.clone()
    }

    /// Attachments in the order they were stored.
    pub fn attachments(&self) -> Vec<Track> {
        self.lock().attachments.clone()
    }

    pub fn catalogs(&self) -> Vec<Catalog> {
        self.lock().catalogs.clone()
    }

    pub fn ingests(&self) -> Vec<Ingest> {
        self.lock().ingests.clone()
    }

    /// Makes the next `n` addTrack calls answer 500 (after reading the whole upload).
    pub fn fail_next_tracks(&self, n: usize) {
        self.lock().fail_tracks.arm(n);
    }

    pub fn failed_tracks(&self) -> usize {
        self.lock().fail_tracks.failed()
    }
}

/// A 401 answer unless the request carries Basic credentials of the ingest user.
fn unauthorized(inner: &Shared, headers: &HeaderMap) -> Option<Response> {
    let credentials = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok());
    if credentials.as_deref() == Some(&format!("{USERNAME}:{PASSWORD}")) {
        return None;
    }
    inner.lock().unwrap().auth_failures += 1;
    Some(
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"Opencast\"")],
            "Unauthorized",
        )
            .into_response(),
    )
}

fn xml(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml;charset=UTF-8")], text).into_response()
}

fn uuid() -> String {
    let n: u128 = rand::random();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

async fn unknown(State((inner, _)): Ctx, request: axum::extract::Request) -> Response {
    let what = format!("unknown endpoint {} {}", request.method(), request.uri());
    inner.lock().unwrap().refuse(StatusCode::NOT_FOUND, what)
}

async fn me(State((inner, _)): Ctx, headers: HeaderMap) -> Response {
    if let Some(r) = unauthorized(&inner, &headers) {
        return r;
    }
    axum::Json(json!({
        "user": {"username": USERNAME, "name": "Capture agent", "provider": "opencast"},
        "roles": ["ROLE_CAPTURE_AGENT", "ROLE_USER"],
        "org": {"id": "mh_default_org", "name": "Opencast Project"}
    }))
    .into_response()
}

async fn definitions(State((inner, _)): Ctx, headers: HeaderMap) -> Response {
    if let Some(r) = unauthorized(&inner, &headers) {
        return r;
    }
    let list: Vec<_> = WORKFLOWS
        .iter()
        .map(|(id, title)| json!({"id": id, "title": title, "description": format!("{title}.")}))
        .collect();
    axum::Json(json!({"definitions": {"definition": list}})).into_response()
}

async fn current_instance(
    State((inner, _)): Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = unauthorized(&inner, &headers) {
        return r;
    }
    let inner = inner.lock().unwrap();
    match inner.packages.get(&id).and_then(|p| p.workflow) {
        Some(w) => axum::Json(json!({"workflow": {"id": w, "state": "RUNNING"}})).into_response(),
        None => (StatusCode::NOT_FOUND, "Current workflow not found").into_response(),
    }
}

async fn create(State((inner, _)): Ctx, headers: HeaderMap) -> Response {
    if let Some(r) = unauthorized(&inner, &headers) {
        return r;
    }
    let id = uuid();
    let package = Package {
        start: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        elements: Vec::new(),
        workflow: None,
    };
    let text = render(&id, &package, "");
    let mut inner = inner.lock().unwrap();
    inner.created += 1;
    inner.packages.insert(id, package);
    xml(text)
}

/// The media package XML, as Opencast writes it.
fn render(id: &str, package: &Package, origin: &str) -> String {
    let element = |e: &Element| {
        let tag = e.kind.tag();
        let checksum = e
            .md5
            .as_ref()
            .map(|m| format!("<checksum type=\"md5\">{m}</checksum>"))
            .unwrap_or_default();
        format!(
            "<{tag} id=\"{}\" type=\"{}\"><mimetype>{}</mimetype><url>{}</url>{checksum}</{tag}>",
            escape(&e.id),
            escape(&e.flavor),
            escape(&e.mime),
            escape(format!(
                "{origin}/files/mediapackage/{id}/{}/{}",
                e.id, e.filename
            )),
        )
    };
    let of = |kind: Kind| -> String {
        package
            .elements
            .iter()
            .filter(|e| e.kind == kind)
            .map(element)
            .collect()
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
         <mediapackage xmlns=\"{MP_NAMESPACE}\" id=\"{}\" start=\"{}\">\
         <media>{}</media><metadata>{}</metadata><attachments>{}</attachments><publications/></mediapackage>",
        escape(id),
        escape(&package.start),
        of(Kind::Track),
        of(Kind::Catalog),
        of(Kind::Attachment),
    )
}

/// A parsed XML element: qualified name, attributes, children and text.
#[derive(Debug, Default)]
struct Node {
    name: String,
    attributes: Vec<(String, String)>,
    children: Vec<Node>,
    text: String,
}

impl Node {
    fn local(&self) -> &str {
        self.name.rsplit(':').next().unwrap_or(&self.name)
    }

    fn prefix(&self) -> Option<&str> {
        self.name.split_once(':').map(|(p, _)| p)
    }

    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The namespace of this element, declared on itself or on `parent`.
    fn namespace<'a>(&'a self, parent: Option<&'a Node>) -> Option<&'a str> {
        let key = match self.prefix() {
            Some(p) => format!("xmlns:{p}"),
            None => "xmlns".to_string(),
        };
        self.attribute(&key)
            .or_else(|| parent.and_then(|p| p.attribute(&key)))
    }

    fn descendants(&self) -> Vec<&Node> {
        let mut out = vec![self];
        for c in &self.children {
            out.extend(c.descendants());
        }
        out
    }
}

/// Parses a whole document strictly: one root, balanced and matching tags, quoted and
/// unique attributes, only the predefined entities and character references.
fn parse(text: &str) -> Result<Node, String> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let open = |e: &quick_xml::events::BytesStart| -> Result<Node, String> {
        let mut node = Node {
            name: e.name().into_inner().to_string(),
            ..Node::default()
        };
        for a in e.attributes() {
            let a = a.map_err(|e| format!("attribute: {e}"))?;
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| format!("attribute value: {e}"))?;
            node.attributes
                .push((a.key.into_inner().to_string(), value.into_owned()));
        }
        Ok(node)
    };
    loop {
        let event = reader.read_event().map_err(|e| e.to_string())?;
        let text_piece = match &event {
            Event::Text(t) => Some(t.to_string()),
            Event::CData(c) => Some(c.to_string()),
            Event::GeneralRef(r) => Some(if r.is_char_ref() {
                r.resolve_char_ref()
                    .map_err(|e| e.to_string())?
                    .ok_or("bad character reference")?
                    .to_string()
            } else {
                match &**r {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => return Err(format!("undefined entity &{other};")),
                }
                .to_string()
            }),
            _ => None,
        };
        if let Some(piece) = text_piece {
            match stack.last_mut() {
                Some(node) => node.text.push_str(&piece),
                None if piece.trim().is_empty() => {}
                None => return Err(format!("text outside the root element: {piece:?}")),
            }
            continue;
        }
        match event {
            Event::Start(e) => {
                if root.is_some() && stack.is_empty() {
                    return Err("more than one root element".into());
                }
                stack.push(open(&e)?);
            }
            Event::Empty(e) => {
                let node = open(&e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None if root.is_none() => root = Some(node),
                    None => return Err("more than one root element".into()),
                }
            }
            Event::End(_) => {
                let node = stack.pop().ok_or("end tag without a start")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("<{}> is never closed", open.name));
    }
    root.ok_or_else(|| "no root element".into())
}

/// Checks a `mediaPackage` parameter: a package this server made, not yet ingested, with
/// exactly the elements added so far. Returns its id.
fn check_package(inner: &Inner, text: Option<&str>) -> Result<String, String> {
    let text = text.ok_or("no mediaPackage parameter")?;
    let root = parse(text).map_err(|e| format!("mediaPackage is not XML: {e}"))?;
    if root.local() != "mediapackage" || root.namespace(None) != Some(MP_NAMESPACE) {
        return Err(format!(
            "mediaPackage root is <{}> in {:?}",
            root.name,
            root.namespace(None)
        ));
    }
    let id = root.attribute("id").ok_or("mediaPackage has no id")?;
    let package = inner
        .packages
        .get(id)
        .ok_or_else(|| format!("media package {id} was not created here"))?;
    if package.workflow.is_some() {
        return Err(format!("media package {id} was already ingested"));
    }
    let mut sent: Vec<&str> = root
        .descendants()
        .into_iter()
        .filter(|n| matches!(n.local(), "track" | "catalog" | "attachment"))
        .map(|n| n.attribute("id").unwrap_or(""))
        .collect();
    let mut known: Vec<&str> = package.elements.iter().map(|e| e.id.as_str()).collect();
    sent.sort_unstable();
    known.sort_unstable();
    if sent != known {
        return Err(format!(
            "media package {id} is not the latest copy: it lists elements {sent:?}, the server holds {known:?}"
        ));
    }
    Ok(id.to_string())
}

/// A flavor `type/subtype`, each of letters, digits, `+`, `-` and `.`.
fn valid_flavor(flavor: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    };
    matches!(flavor.split_once('/'), Some((t, s)) if part(t) && part(s))
}

/// The terms of an episode catalog, or why it is not one.
fn check_catalog(text: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
    let root = parse(text).map_err(|e| format!("the catalog is not well-formed XML: {e}"))?;
    if root.local() != "dublincore" || root.namespace(None) != Some(DC_NAMESPACE) {
        return Err(format!(
            "the catalog root is <{}> in {:?}, not <dublincore> in {DC_NAMESPACE}",
            root.name,
            root.namespace(None)
        ));
    }
    let mut terms: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for child in &root.children {
        if child.namespace(Some(&root)) != Some(DCTERMS_NAMESPACE) {
            return Err(format!("<{}> is not in the dcterms namespace", child.name));
        }
        if !child.children.is_empty() {
            return Err(format!("<{}> has child elements", child.name));
        }
        terms
            .entry(child.local().to_string())
            .or_default()
            .push(child.text.clone());
    }
    match terms.get("title").map(Vec::as_slice) {
        Some([title]) if !title.trim().is_empty() => {}
        other => {
            return Err(format!(
                "the catalog needs one non-empty title, has {other:?}"
            ));
        }
    }
    if let Some(created) = terms.get("created") {
        for c in created {
            chrono::DateTime::parse_from_rfc3339(c)
                .map_err(|_| format!("created {c:?} is not a W3C-DTF date"))?;
        }
    }
    Ok(terms)
}

/// Form fields of an URL-encoded body, in order.
fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn add_catalog(State((inner, origin)): Ctx, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = unauthorized(&inner, &headers) {
        return r;
    }
    let mut inner = inner.lock().unwrap();
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !form_type.starts_with("application/x-www-form-urlencoded") {
        return inner.refuse(
            StatusCode::BAD_REQUEST,
            format!("addDCCatalog sent as {form_type:?}, not a form"),
        );
    }
    let fields = form_fields(&body);
    let id = match check_package(&inner, field(&fields, "mediaPackage")) {
        Ok(id) => id,
        Err(e) => return inner.refuse(StatusCode::BAD_REQUEST, format!("addDCCatalog: {e}")),
    };
    let flavor = field(&fields, "flavor").unwrap_or("dublincore/episode");
    if flavor != "dublincore/episode" {
        return inner.refuse(
            StatusCode::BAD_REQUEST,
            format!("addDCCatalog: flavor {flavor:?}, expected dublincore/episode"),
        );
    }
    let Some(text) = field(&fields, "dublinCore") else {
        return inner.refuse(
            StatusCode::BAD_REQUEST,
            "addDCCatalog: no dublinCore parameter".into(),
        );
    };
    let terms = match check_catalog(text) {
        Ok(terms) => terms,
        Err(e) => return inner.refuse(StatusCode::BAD_REQUEST, format!("addDCCatalog: {e}")),
    };
    let package = inner.packages.get_mut(&id).unwrap();
    if package
        .elements
        .iter()
        .any(|e| e.kind == Kind::Catalog && e.flavor == flavor)
    {
        return inner.refuse(
            StatusCode::BAD_REQUEST,
            format!("addDCCatalog: media package {id} already has an episode catalog"),
        );
    }
    package.elements.push(Element {
        id: uuid(),
        kind: Kind::Catalog,
        flavor: flavor.to_string(),
        mime: "text/xml".into(),
        filename: "dublincore.xml".into(),
        md5: None,
    });
    let answer = render(&id, package, &origin);
    inner.catalogs.push(Catalog {
        media_package: id,
        text: text.to_string(),
        terms,
    });
    xml(answer)
}

/// One part of a multipart form.
struct Part {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// Parses a `multipart/form-data` body strictly (RFC 7578): CRLF line ends, a
/// Content-Disposition with a name on every part, the closing delimiter at the end.
fn multipart(content_type: &str, body: &[u8]) -> Result<Vec<Part>, String> {
    let boundary = content_type
        .strip_prefix("multipart/form-data;")
        .and_then(|rest| {
            rest.split(';')
                .map(str::trim)
                .find_map(|p| p.strip_prefix("boundary="))
        })
        .map(|b| b.trim_matches('"').to_string())
        .ok_or_else(|| {
            format!("Content-Type {content_type:?} is not multipart/form-data with a boundary")
        })?;
    if boundary.is_empty() || boundary.len() > 70 {
        return Err(format!("boundary {boundary:?} is not 1 to 70 characters"));
    }
    let first = format!("--{boundary}\r\n");
    let delimiter = format!("\r\n--{boundary}");
    let mut rest = body
        .strip_prefix(first.as_bytes())
        .ok_or("the body does not start with the boundary")?;
    let mut parts = Vec::new();
    loop {
        let end = find(rest, delimiter.as_bytes()).ok_or("a part is never closed")?;
        let (part, after) = (&rest[..end], &rest[end + delimiter.len()..]);
        let split = find(part, b"\r\n\r\n").ok_or("a part has no blank line after its headers")?;
        let head = std::str::from_utf8(&part[..split]).map_err(|_| "part headers are not UTF-8")?;
        let mut name = None;
        let mut filename = None;
        let mut content_type = None;
        for line in head.split("\r\n") {
            let (key, value) = line
                .split_once(':')
                .ok_or_else(|| format!("bad part header {line:?}"))?;
            match key.trim().to_ascii_lowercase().as_str() {
                "content-disposition" => {
                    let mut params = value.split(';').map(str::trim);
                    if params.next() != Some("form-data") {
                        return Err(format!("Content-Disposition {value:?} is not form-data"));
                    }
                    for p in params {
                        if let Some(v) = p.strip_prefix("name=") {
                            name = Some(v.trim_matches('"').to_string());
                        } else if let Some(v) = p.strip_prefix("filename=") {
                            filename = Some(v.trim_matches('"').to_string());
                        }
                    }
                }
                "content-type" => content_type = Some(value.trim().to_string()),
                _ => {}
            }
        }
        parts.push(Part {
            name: name.ok_or("a part has no name")?,
            filename,
            content_type,
            body: part[split + 4..].to_vec(),
        });
        if let Some(next) = after.strip_prefix(b"\r\n") {
            rest = next;
        } else if let Some(tail) = after.strip_prefix(b"--") {
            if !(tail.is_empty() || tail == b"\r\n") {
                return Err("bytes after the closing delimiter".into());
            }
            return Ok(parts);
        } else {
            return Err("a delimiter is followed by neither CRLF nor --".into());
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn add_track(state: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    add_media(state, Kind::Track, headers, body)
}

async fn add_attachment(state: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    add_media(state, Kind::Attachment, headers, body)
}

/// addTrack and addAttachment: a multipart form with the media package, the flavor and
/// the file (`BODY`).
fn add_media(State((inner, origin)): Ctx, kind: Kind, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = unauthorized(&inner, &headers) {
        return r;
    }
    let endpoint = kind.endpoint();
    let mut inner = inner.lock().unwrap();
    if kind == Kind::Track && inner.fail_tracks.fire() {
        return (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response();
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let parts = match multipart(content_type, &body) {
        Ok(parts) => parts,
        Err(e) => return inner.refuse(StatusCode::BAD_REQUEST, format!("{endpoint}: {e}")),
    };
    let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
    // Opencast reads the form as a stream and adds the file when it reaches it, with the
    // media package and flavor seen so far.
    let position = |n: &str| names.iter().position(|m| *m == n);
    let (Some(mp), Some(flavor), Some(file)) = (
        position("mediaPackage"),
        position("flavor"),
        position("BODY"),
    ) else {
        return inner.refuse(
            StatusCode::BAD_REQUEST,
            format!("{endpoint}: form fields {names:?} lack mediaPackage, flavor or BODY"),
        );
    };
    if mp > file || flavor > file || names.len() != 3 {
        return inner.refuse(
            StatusCode::BAD_REQUEST,
            format!("{endpoint}: form fields {names:?}; mediaPackage and flavor must precede BODY"),
        );
    }
    let package_text = String::from_utf8_lossy(&parts[mp].body).into_owned();
    let id = match check_package(&inner, Some(&package_text)) {
        Ok(id) => id,
        Err(e) => return inner.refuse(StatusCode::BAD_REQUEST, format!("{endpoint}: {e}")),
    };
    let flavor = String::from_utf8_lossy(&parts[flavor].body).into_owned();
    if !valid_flavor(&flavor) {
        return inner.refuse(
            StatusCode::BAD_REQUEST,
            format!("{endpoint}: {flavor:?} is not a flavor"),
        );
    }
    let file = &parts[file];
    let filename = file.filename.clone().unwrap_or_default();
    if filename.is_empty() || filename.contains(['/', '\\']) {
        return inner.refuse(
            StatusCode::BAD_REQUEST,
            format!("{endpoint}: file name {filename:?}"),
        );
    }
    let Some(mime) = file.content_type.clone() else {
        return inner.refuse(
            StatusCode::BAD_REQUEST,
            format!("{endpoint}: the file part has no Content-Type"),
        );
    };
    let package = inner.packages.get_mut(&id).unwrap();
    if package
        .elements
        .iter()
        .any(|e| e.kind == kind && e.flavor == flavor)
    {
        return inner.refuse(
            StatusCode::BAD_REQUEST,
            format!(
                "{endpoint}: media package {id} already has a {flavor} {}",
                kind.tag()
            ),
        );
    }
    let track_id = uuid();
    let md5: String = Md5::digest(&file.body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    package.elements.push(Element {
        id: track_id.clone(),
        kind: kind.clone(),
        flavor: flavor.clone(),
        mime: mime.clone(),
        filename: filename.clone(),
        md5: Some(md5),
    });
    let answer = render(&id, package, &origin);
    let list = if kind == Kind::Track {
        &mut inner.tracks
    } else {
        &mut inner.attachments
    };
    list.push(Track {
        media_package: id,
        id: track_id,
        flavor,
        filename,
        mime,
        bytes: file.body.clone(),
    });
    xml(answer)
}

async fn ingest_default(state: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    run_ingest(state, DEFAULT_WORKFLOW.to_string(), headers, body)
}

async fn ingest(
    state: Ctx,
    Path(workflow): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_ingest(state, workflow, headers, body)
}

fn run_ingest(
    State((inner, origin)): Ctx,
    workflow: String,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = unauthorized(&inner, &headers) {
        return r;
    }
    let mut inner = inner.lock().unwrap();
    if !WORKFLOWS.iter().any(|(id, _)| *id == workflow) {
        return inner.refuse(
            StatusCode::NOT_FOUND,
            format!("ingest: no workflow definition {workflow:?}"),
        );
    }
    let fields = form_fields(&body);
    let id = match check_package(&inner, field(&fields, "mediaPackage")) {
        Ok(id) => id,
        Err(e) => return inner.refuse(StatusCode::BAD_REQUEST, format!("ingest: {e}")),
    };
    if inner.ingests.iter().any(|i| i.media_package == id) {
        return inner.refuse(
            StatusCode::CONFLICT,
            format!("ingest: media package {id} ingested twice"),
        );
    }
    let package = &inner.packages[&id];
    if !package.elements.iter().any(|e| e.kind == Kind::Track) {
        return inner.refuse(
            StatusCode::BAD_REQUEST,
            format!("ingest: media package {id} has no tracks"),
        );
    }
    inner.next_workflow += 1;
    let instance = 4000 + inner.next_workflow;
    let package = inner.packages.get_mut(&id).unwrap();
    package.workflow = Some(instance);
    let package_xml = render(&id, package, &origin);
    let package_xml = package_xml
        .split_once("?>")
        .map(|(_, rest)| rest.to_string())
        .unwrap_or(package_xml);
    let properties = fields
        .into_iter()
        .filter(|(k, _)| k != "mediaPackage")
        .collect();
    inner.ingests.push(Ingest {
        media_package: id,
        workflow: workflow.clone(),
        properties,
    });
    xml(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
         <wf:workflow xmlns:wf=\"{WF_NAMESPACE}\" id=\"{instance}\" state=\"INSTANTIATED\">\
         <wf:template>{}</wf:template>{package_xml}</wf:workflow>",
        escape(&workflow)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strict_parser_refuses_what_opencast_would() {
        assert!(parse("<a><b></a>").is_err());
        assert!(parse("<a>&nbsp;</a>").is_err());
        assert!(parse("<a>x & y</a>").is_err());
        assert!(parse("<a/><b/>").is_err());
        assert!(parse("<a>").is_err());
        assert!(parse("<a x=\"1\" x=\"2\"/>").is_err());
        let ok =
            parse("<?xml version=\"1.0\"?><a k=\"&quot;\">t&amp;&#65;<![CDATA[<]]></a>").unwrap();
        assert_eq!((ok.text.as_str(), ok.attribute("k")), ("t&A<", Some("\"")));
        assert!(check_catalog(&format!(
            "<dublincore xmlns=\"{DC_NAMESPACE}\" xmlns:dcterms=\"{DCTERMS_NAMESPACE}\"><dcterms:title>T</dcterms:title></dublincore>"
        ))
        .is_ok());
        assert!(check_catalog(&format!(
            "<dublincore xmlns=\"{DC_NAMESPACE}\" xmlns:dcterms=\"{DCTERMS_NAMESPACE}\"><dcterms:subject>T</dcterms:subject></dublincore>"
        ))
        .is_err());
    }
}
