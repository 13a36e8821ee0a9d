//! HTTP only: the router (every route under `/api/1` and `/api`), the permission gate,
//! tolerant parameter parsing, the one error format, and the generated API docs.
//!
//! Knows nothing of GStreamer or SQL: a handler parses and authorises, calls one method of
//! the [`Daemon`] façade, and maps its typed result to an answer.

pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod cross_site;
pub(crate) mod error;
pub(crate) mod files;
pub(crate) mod handlers;
pub(crate) mod openapi;
pub(crate) mod params;
pub(crate) mod routes;
pub(crate) mod web;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, OriginalUri, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use tower_http::catch_panic::CatchPanicLayer;

use crate::daemon::Daemon;
use crate::daemon::metrics::Metrics;
use error::{ApiError, ErrorCode};
use openapi::ApiDocs;
use params::BodyLimit;

/// Builds the complete HTTP application for a daemon.
pub(crate) fn router(daemon: Daemon) -> Router {
    let (api, mut doc) = routes::table(&daemon).split_for_parts();
    openapi::finish(&mut doc);
    let docs = Arc::new(ApiDocs::new(&doc));
    let api = api
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(daemon.clone());
    let timeout = Duration::from_secs(daemon.http_config().request_timeout_secs);

    Router::new()
        .nest("/api/1", api.clone())
        .nest("/api", api)
        .merge(web::router())
        .route_layer(from_fn(mark_route))
        .fallback(not_found)
        .layer(Extension(docs))
        .layer(Extension(BodyLimit(daemon.http_config().max_body_bytes)))
        .layer(from_fn_with_state(timeout, limit_time))
        // Before any handler or authentication: a forged request costs nothing and changes
        // nothing.
        .layer(from_fn(cross_site::refuse_cross_site))
        .layer(from_fn(access_log))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal("a request handler panicked").into_response()
        }))
        // Outside the panic catcher, so that a panic's 500 cannot be framed either.
        .layer(from_fn(web::no_framing))
        // Outside the panic catcher, so that a panic's 500 is counted too.
        .layer(from_fn_with_state(daemon.metrics().clone(), count_request))
        // Outermost, so that every answer is recorded, a panic's 500 included.
        .layer(from_fn_with_state(daemon.audit().clone(), audit::record))
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::RouteNotFound,
        format!("no route {method} {}", uri.path()),
    )
    .with("path", uri.path().to_string())
}

async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} does not accept {method}", uri.path()),
    )
    .with("method", method.as_str().to_string())
}

/// Answers 408 in the common format when a handler takes too long.
async fn limit_time(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            ErrorCode::RequestTimeout,
            format!("the request took longer than {} s", limit.as_secs()),
        )
        .into_response(),
    }
}

/// The route pattern that answered a request, without the `/api/1` or `/api` prefix.
/// Paths no route has (the fallback) carry none.
#[derive(Clone)]
struct RoutePattern(String);

/// Route layer: notes on the answer which route pattern the request matched.
async fn mark_route(matched: Option<MatchedPath>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    if let Some(matched) = matched {
        let path = matched.as_str();
        let route = path
            .strip_prefix("/api/1")
            .or_else(|| path.strip_prefix("/api"))
            .unwrap_or(path);
        response
            .extensions_mut()
            .insert(RoutePattern(route.to_string()));
    }
    response
}

/// Counts every answer by route pattern (`unmatched` for paths no route has) and status.
async fn count_request(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let route = response
        .extensions()
        .get::<RoutePattern>()
        .map_or("unmatched", |r| r.0.as_str());
    metrics.request(route, response.status().as_u16());
    response
}

/// One debug line per request; server errors are logged where they are produced.
async fn access_log(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let response = next.run(req).await;
    let status = response.status();
    if log::log_enabled!(log::Level::Debug) || status == StatusCode::INTERNAL_SERVER_ERROR {
        log::debug!(
            "{method} {path} → {} in {:.1} ms",
            status.as_u16(),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    response
}
