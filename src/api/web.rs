//! The web control page: `/` and its files under `/ui/`, from `assets/web/`.
//!
//! The files are compiled into the binary, so a copied binary serves the page without its
//! source tree, and nothing on disk can be reached through these routes. The page needs no
//! credentials; the API calls it makes do.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::{Path, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::error::{ApiError, ErrorCode};

/// One file of the page.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/web/", $name)),
        }
    };
}

/// Every file in `assets/web/` (the daemon tests check that none is left out).
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("live.js", "text/javascript; charset=utf-8"),
    asset!("format.js", "text/javascript; charset=utf-8"),
];

/// The page talks only to this daemon: the browser refuses anything else, which also keeps
/// it working offline.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' blob: data:; \
    connect-src 'self'; script-src 'self'; style-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// For answers that bring no policy of their own (the API's): the only rule that matters
/// for JSON, images and streams is that no other site may show them in a frame.
const FRAME_ONLY_POLICY: &str = "frame-ancestors 'none'";

/// No page of another site may show any answer of castd in a frame (clickjacking): the
/// page's own policy says so with `frame-ancestors`, `X-Frame-Options` says it to browsers
/// that predate it, and answers without a policy get one that says only this.
pub(crate) fn forbid_framing(headers: &mut HeaderMap) {
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(FRAME_ONLY_POLICY),
        );
    }
}

/// Middleware: [`forbid_framing`] on every answer.
pub(crate) async fn no_framing(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    forbid_framing(response.headers_mut());
    response
}

/// Entity tags by asset, computed once: browsers revalidate (`no-cache`) and get a 304, so
/// a new binary's page is seen at once without sending unchanged files again.
#[expect(
    clippy::expect_used,
    reason = "invariant: hex digits in quotes are a valid header"
)]
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let hash = blake3::hash(asset.body).to_hex();
            HeaderValue::from_str(&format!("\"{}\"", &hash[..16])).expect("hex is a valid header")
        })
        .collect()
});

/// The page's routes, outside the API prefixes.
pub(crate) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/ui", get(index))
        .route("/ui/", get(index))
        .route("/ui/{*file}", get(file))
}

async fn index(headers: HeaderMap) -> Response {
    send("index.html", &headers)
}

async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    send(&name, &headers)
}

fn send(name: &str, request: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|a| a.name == name) else {
        return ApiError::new(ErrorCode::RouteNotFound, format!("no file /ui/{name}"))
            .with("path", format!("/ui/{name}"))
            .into_response();
    };
    let asset = &ASSETS[index];
    let etag = &ETAGS[index];
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag));
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, etag.clone()),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    if fresh {
        (StatusCode::NOT_MODIFIED, headers).into_response()
    } else {
        (headers, asset.body).into_response()
    }
}
