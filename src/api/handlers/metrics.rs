//! `GET /metrics`: the Prometheus exposition.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::api::error::ApiError;
use crate::daemon::Daemon;

/// Metrics for Prometheus
///
/// The text exposition format (`text/plain; version=0.0.4`), counters in the OpenMetrics
/// style (`# TYPE castd_http_requests counter`, samples `castd_http_requests_total`).
/// Families: `castd_capture_state{state}` (1 for the state `/status/capture` shows),
/// `castd_capture_recorded_seconds{session}`, per node of a running session
/// `castd_node_buffers_total`, `castd_node_dropped_frames_total` and `castd_node_fps`
/// `{session,node}`, `castd_disk_free_bytes`, `castd_disk_usable_bytes`,
/// `castd_disk_total_bytes`, `castd_publish_jobs{state}`,
/// `castd_http_requests_total{route,status}` (route pattern without the `/api/1` prefix,
/// `unmatched` for paths no route has), `castd_auth_failures_total{reason}`
/// (`invalid_credentials`, `throttled`), `castd_uptime_seconds` and
/// `castd_build_info{version}`.
#[utoipa::path(get, path = "/metrics", tag = "status", operation_id = "metrics",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String)))]
pub(crate) async fn metrics(State(daemon): State<Daemon>) -> Result<impl IntoResponse, ApiError> {
    let text = daemon.scrape_metrics().await.map_err(ApiError::internal)?;
    Ok((
        [(header::CONTENT_TYPE, crate::daemon::metrics::CONTENT_TYPE)],
        text,
    ))
}
