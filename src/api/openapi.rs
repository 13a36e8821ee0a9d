//! The OpenAPI document and the HTML docs page, both derived from the route table.
//!
//! Routes carry their own path, parameters and schemas (`#[utoipa::path]`); the route table
//! adds each route's permission (`x-permission`, security, the 401/403/429 answers it can
//! give); this module adds what is common to all (servers, the error catalog, JSON bodies as
//! an alternative to forms) and renders the page people read. Nothing here is kept by hand.

use std::fmt::Write as _;

use bytes::Bytes;
use serde_json::Value;
use utoipa::OpenApi;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr};

use super::auth::Guard;
use super::error::{self, ErrorBody};
use crate::auth::Permission;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "castd — CaptureCast HTTP API v1",
        description = "Control API of a castd lecture-capture unit, compatible with the CaptureCast HTTP API v1.\n\n\
Every route answers under `/api/1` and, identically, under `/api`. Requests are \
`application/x-www-form-urlencoded` (a parameter may hold JSON) or `application/json` \
(top-level keys are the parameters); answers are JSON. Times are milliseconds since the \
Unix epoch, durations milliseconds. Authentication is HTTP Basic; `x-permission` on each \
operation names what the caller's roles must grant (`none`, `any`, `view`, `sched`, \
`media`, `admin`). Errors carry a stable `code`, listed with its HTTP status in \
`x-error-codes`. Lists take `limit` and `offset` and put the total in `X-Total-Count`.\n\n\
Resources follow the CaptureCast URL convention (`GET` list and `POST` create at `/things`; \
`GET`, `POST` update and `DELETE` at `/things/{id}`). Templates and media packages, filed \
under `/capture`, also answer at `/templates` and `/mediaPackages`: each short path is a \
`$ref` to its `/capture` entry (same handler, same permission). `/events` is the event \
stream, so scheduled events stay at `/scheduler/events`; media packages are made by \
captures, not by `POST /mediaPackages`.\n\n\
Where castd adds to the CaptureCast objects: `speaker` is answered as the speaker's id \
(0 for none or an inline speaker), as the CaptureCast Event documents, and the whole \
speaker is in the added `speakerInfo` (Event, EventGroup, MediaPackage); a `speaker` may be \
sent as an id, a name or a Speaker object. Template names are references (`templateID` \
takes a name), so a second template of the same name is refused rather than created."
    ),
    components(schemas(ErrorBody))
)]
struct BaseDoc;

/// The base document the route table adds its routes to.
pub(crate) fn base() -> utoipa::openapi::OpenApi {
    let mut doc = BaseDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc.servers = Some(vec![
        utoipa::openapi::Server::new("/api/1"),
        utoipa::openapi::Server::new("/api"),
    ]);
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "basicAuth",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
    );
    doc
}

fn operations_mut(doc: &mut utoipa::openapi::OpenApi) -> impl Iterator<Item = &mut Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            item.get.as_mut(),
            item.post.as_mut(),
            item.put.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ]
        .into_iter()
        .flatten()
    })
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            )
            .build(),
    )
}

/// Records a route group's guard on each of its operations.
pub(crate) fn mark(doc: &mut utoipa::openapi::OpenApi, guard: Guard) {
    let permission = guard.permission();
    for op in operations_mut(doc) {
        let extensions = op.extensions.get_or_insert_with(Default::default);
        extensions.insert("x-permission".into(), Value::from(permission.as_str()));
        if guard == Guard::StatusView {
            extensions.insert("x-public-when".into(), Value::from("publicStatus"));
        }
        let responses = &mut op.responses.responses;
        if permission != Permission::None {
            op.security = Some(vec![SecurityRequirement::new(
                "basicAuth",
                Vec::<String>::new(),
            )]);
            responses.insert(
                "401".into(),
                error_response(
                    "No or wrong credentials (`auth.required`, `auth.invalid_credentials`).",
                ),
            );
            responses.insert(
                "429".into(),
                error_response("Too many failed logins (`auth.throttled`); see Retry-After."),
            );
            // Routes with a 503 of their own keep its description; the code tells them apart.
            responses.entry("503".into()).or_insert_with(|| {
                error_response(
                    "Too many logins waiting for their password check (`auth.busy`); see Retry-After.",
                )
            });
        }
        if !matches!(
            permission,
            Permission::None | Permission::AnyUser | Permission::View
        ) {
            responses.insert(
                "403".into(),
                error_response("The user's roles lack the permission (`auth.forbidden`)."),
            );
        }
        responses
            .entry("default".into())
            .or_insert_with(|| error_response("Any other error; `code` says which."));
    }
}

/// Documents `alias` as the same entry as `path`: a Path Item holding only a `$ref` to it
/// (a JSON Pointer into `paths`, in a URI fragment).
pub(crate) fn alias(doc: &mut utoipa::openapi::OpenApi, alias: &str, path: &str) {
    let pointer = path
        .replace('~', "~0")
        .replace('/', "~1")
        .replace('{', "%7B")
        .replace('}', "%7D");
    let mut item = PathItem::default();
    item.extensions = Some(Extensions::from_iter([(
        "$ref",
        Value::from(format!("#/paths/{pointer}")),
    )]));
    doc.paths.paths.insert(alias.to_string(), item);
}

/// Adds what every route shares: JSON bodies next to forms, and the error catalog.
pub(crate) fn finish(doc: &mut utoipa::openapi::OpenApi) {
    for op in operations_mut(doc) {
        if let Some(body) = op.request_body.as_mut()
            && let Some(form) = body
                .content
                .get("application/x-www-form-urlencoded")
                .cloned()
        {
            body.content
                .entry("application/json".into())
                .or_insert(form);
        }
    }
    let extensions = doc.extensions.get_or_insert_with(Default::default);
    extensions.insert("x-error-codes".into(), error::catalog());
    extensions.insert("x-alarm-codes".into(), error::alarm_catalog());
    extensions.insert("x-publish-failure-codes".into(), error::failure_catalog());
}

/// The finished document, serialised once, and the docs page rendered from it.
pub(crate) struct ApiDocs {
    pub json: Bytes,
    pub html: Bytes,
}

impl ApiDocs {
    #[expect(
        clippy::expect_used,
        reason = "invariant: JSON value serialises; OpenAPI document serialises"
    )]
    pub(crate) fn new(doc: &utoipa::openapi::OpenApi) -> ApiDocs {
        let value = serde_json::to_value(doc).expect("OpenAPI document serialises");
        ApiDocs {
            json: Bytes::from(serde_json::to_vec_pretty(&value).expect("JSON value serialises")),
            html: Bytes::from(render_html(&value)),
        }
    }
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Inline code spans (`x`) and paragraphs, the only markup the descriptions use.
fn prose(text: &str) -> String {
    text.split("\n\n")
        .map(|para| {
            let mut out = String::new();
            for (i, piece) in esc(para).split('`').enumerate() {
                if i % 2 == 1 {
                    let _ = write!(out, "<code>{piece}</code>");
                } else {
                    out.push_str(piece);
                }
            }
            format!("<p>{out}</p>")
        })
        .collect()
}

fn schema_name(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().unwrap_or(r).to_string();
    }
    match schema.get("type") {
        Some(Value::String(t)) if t == "array" => {
            format!(
                "[{}]",
                schema.get("items").map(schema_name).unwrap_or_default()
            )
        }
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ if schema.get("oneOf").is_some() => "one of several".into(),
        _ => "any".into(),
    }
}

fn render_schema_fields(out: &mut String, schema: &Value) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push_str("<table><tr><th>field</th><th>type</th><th></th><th>description</th></tr>");
    for (name, prop) in props {
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            esc(&schema_name(prop)),
            if required.contains(&name.as_str()) {
                "required"
            } else {
                ""
            },
            esc(prop
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()),
        );
    }
    out.push_str("</table>");
}

/// The docs page: the API's title and description, an index of the routes by tag, each
/// route with its parameters and answers, the error codes and the objects.
fn render_html(doc: &Value) -> String {
    let empty = serde_json::Map::new();
    let paths = doc["paths"].as_object().unwrap_or(&empty);
    let schemas = doc["components"]["schemas"].as_object().unwrap_or(&empty);
    let routes = Routes::of(paths);
    let mut out = String::with_capacity(64 * 1024);
    render_head(&mut out, doc);
    routes.render_index(&mut out);
    for (_, method, path, op) in &routes.ops {
        let aliases = routes.aliases.get(path.as_str());
        render_operation(&mut out, method, path, op, aliases, schemas);
    }
    render_error_codes(&mut out, doc);
    out.push_str("<h2 id=schemas>Objects</h2>");
    for (name, schema) in schemas {
        render_object(&mut out, name, schema);
    }
    out.push_str("</body></html>");
    out
}

/// The document's operations as the page lists them.
struct Routes<'a> {
    /// Tags in first-seen order.
    tags: Vec<String>,
    /// (tag, method, path, operation), in the document's order.
    ops: Vec<(String, String, String, &'a Value)>,
    /// path → its short paths (entries that are only a `$ref` to it).
    aliases: std::collections::BTreeMap<String, Vec<&'a str>>,
}

impl<'a> Routes<'a> {
    fn of(paths: &'a serde_json::Map<String, Value>) -> Routes<'a> {
        let mut routes = Routes {
            tags: Vec::new(),
            ops: Vec::new(),
            aliases: Default::default(),
        };
        for (path, item) in paths {
            if let Some(target) = item.get("$ref").and_then(Value::as_str) {
                let target = target
                    .trim_start_matches("#/paths/")
                    .replace("%7B", "{")
                    .replace("%7D", "}")
                    .replace("~1", "/")
                    .replace("~0", "~");
                routes.aliases.entry(target).or_default().push(path);
                continue;
            }
            for method in ["get", "post", "put", "delete", "patch"] {
                if let Some(op) = item.get(method) {
                    let tag = op["tags"][0].as_str().unwrap_or("other").to_string();
                    if !routes.tags.contains(&tag) {
                        routes.tags.push(tag.clone());
                    }
                    routes
                        .ops
                        .push((tag, method.to_uppercase(), path.clone(), op));
                }
            }
        }
        routes
    }

    /// The list of routes by tag, each linking to its section.
    fn render_index(&self, out: &mut String) {
        for tag in &self.tags {
            let _ = write!(out, "<h4>{}</h4><ul>", esc(tag));
            for (_, method, path, op) in self.ops.iter().filter(|(t, ..)| t == tag) {
                let id = op["operationId"].as_str().unwrap_or_default();
                let _ = write!(
                    out,
                    "<li><a href=\"#{id}\"><code>{method} {}</code></a> {}</li>",
                    esc(path),
                    esc(op["summary"].as_str().unwrap_or_default())
                );
            }
            out.push_str("</ul>");
        }
    }
}

/// The page's head, style, title and the API's description.
fn render_head(out: &mut String, doc: &Value) {
    let title = doc["info"]["title"].as_str().unwrap_or("API");
    let _ = write!(
        out,
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
         <title>{t}</title><style>body{{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}}\
         h3{{margin-top:2rem;border-top:1px solid #ddd;padding-top:1rem}}code{{background:#f3f3f3;padding:0 .2em}}\
         table{{border-collapse:collapse;margin:.5rem 0}}td,th{{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}}\
         .perm{{background:#234;color:#fff;padding:0 .4em;border-radius:3px;font-size:.85em}}</style></head><body>\
         <h1>{t}</h1><p>Version {v}. Machine-readable: <a href=\"openapi.json\">openapi.json</a>.</p>{d}<h2>Routes</h2>",
        t = esc(title),
        v = esc(doc["info"]["version"].as_str().unwrap_or_default()),
        d = prose(doc["info"]["description"].as_str().unwrap_or_default()),
    );
}

/// One route's section: method and path, summary, permission and operation id, its short
/// paths, description, parameters, form body and answers.
fn render_operation(
    out: &mut String,
    method: &str,
    path: &str,
    op: &Value,
    aliases: Option<&Vec<&str>>,
    schemas: &serde_json::Map<String, Value>,
) {
    let id = op["operationId"].as_str().unwrap_or_default();
    let _ = write!(
        out,
        "<h3 id=\"{id}\"><code>{method} /api/1{}</code></h3><p><b>{}</b> <span class=perm>{}</span> <code>{id}</code></p>",
        esc(path),
        esc(op["summary"].as_str().unwrap_or_default()),
        esc(op["x-permission"].as_str().unwrap_or("none")),
    );
    if let Some(short) = aliases {
        let list: Vec<String> = short
            .iter()
            .map(|a| format!("<code>{method} /api/1{}</code>", esc(a)))
            .collect();
        let _ = write!(out, "<p>Also at {}.</p>", list.join(", "));
    }
    if let Some(d) = op["description"].as_str() {
        out.push_str(&prose(d));
    }
    if let Some(params) = op["parameters"].as_array() {
        out.push_str(
            "<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>",
        );
        for p in params {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(p["name"].as_str().unwrap_or_default()),
                esc(p["in"].as_str().unwrap_or_default()),
                esc(&schema_name(&p["schema"])),
                esc(p["description"].as_str().unwrap_or_default()),
            );
        }
        out.push_str("</table>");
    }
    if let Some(schema) =
        op["requestBody"]["content"]["application/x-www-form-urlencoded"].get("schema")
    {
        let name = schema_name(schema);
        let _ = write!(out, "<p>Form parameters (<code>{}</code>):</p>", esc(&name));
        if let Some(s) = schemas.get(&name) {
            render_schema_fields(out, s);
        }
    }
    if let Some(responses) = op["responses"].as_object() {
        out.push_str("<p>Answers: ");
        for (status, r) in responses {
            let schema = r["content"]["application/json"]
                .get("schema")
                .map(schema_name)
                .unwrap_or_default();
            let _ = write!(out, "<code>{}</code> {} &nbsp; ", esc(status), esc(&schema));
        }
        out.push_str("</p>");
    }
}

/// The error catalog's table.
fn render_error_codes(out: &mut String, doc: &Value) {
    out.push_str("<h2 id=errors>Error codes</h2><table><tr><th>code</th><th>status</th><th>meaning</th></tr>");
    if let Some(codes) = doc["x-error-codes"].as_object() {
        for (code, info) in codes {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                esc(code),
                info["status"],
                prose(info["description"].as_str().unwrap_or_default())
            );
        }
    }
    out.push_str("</table>");
}

/// One object's section: description, its values when it is an enum, and its fields.
fn render_object(out: &mut String, name: &str, schema: &Value) {
    let _ = write!(out, "<h3 id=\"schema-{0}\">{0}</h3>", esc(name));
    if let Some(d) = schema["description"].as_str() {
        out.push_str(&prose(d));
    }
    if let Some(values) = schema["enum"].as_array() {
        let list: Vec<String> = values
            .iter()
            .map(|v| format!("<code>{}</code>", esc(&v.to_string())))
            .collect();
        let _ = write!(out, "<p>One of {}</p>", list.join(", "));
    }
    render_schema_fields(out, schema);
}
