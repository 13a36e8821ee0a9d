//! The `status` group and the liveness probe.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::error::ApiError;
use crate::daemon::Daemon;
use crate::model::{CaptureStatus, DiskSpace, NetworkStatus, UnitInfo, UnitStatus};

/// Unit, capture, disk and alarms in one call
///
/// What a room panel polls: everything it shows, in one request.
#[utoipa::path(get, path = "/status", tag = "status", operation_id = "getStatus",
    responses((status = 200, body = UnitStatus)))]
pub(crate) async fn get_status(State(daemon): State<Daemon>) -> Result<Json<UnitStatus>, ApiError> {
    daemon.status().map(Json).map_err(ApiError::internal)
}

/// Basic information about the unit
#[utoipa::path(get, path = "/status/unit", tag = "status", operation_id = "getUnitInfo",
    responses((status = 200, body = UnitInfo)))]
pub(crate) async fn get_unit_info(State(daemon): State<Daemon>) -> Json<UnitInfo> {
    Json(daemon.unit_info())
}

/// Network connectivity of the unit
///
/// Interfaces with addresses and link state, the default gateway, and whether DNS answers
/// (probed at most every 30 s).
#[utoipa::path(get, path = "/status/network", tag = "status", operation_id = "getNetwork",
    responses((status = 200, body = NetworkStatus)))]
pub(crate) async fn get_network(
    State(daemon): State<Daemon>,
) -> Result<Json<NetworkStatus>, ApiError> {
    crate::sys::network::status(daemon.dns())
        .await
        .map(Json)
        .map_err(ApiError::internal)
}

/// Free, usable and total space of the media store
#[utoipa::path(get, path = "/status/diskSpace", tag = "status", operation_id = "getDiskSpace",
    responses((status = 200, body = DiskSpace)))]
pub(crate) async fn get_disk_space(
    State(daemon): State<Daemon>,
) -> Result<Json<DiskSpace>, ApiError> {
    daemon.disk_space().map(Json).map_err(ApiError::internal)
}

/// The current capture's state
///
/// `idle`, `starting`, `capturing`, `paused`, `stopping`, `processing` or `error`, with the
/// session's details while one exists.
#[utoipa::path(get, path = "/status/capture", tag = "status", operation_id = "getCaptureStatus",
    responses((status = 200, body = CaptureStatus)))]
pub(crate) async fn get_capture_status(State(daemon): State<Daemon>) -> Json<CaptureStatus> {
    Json(daemon.capture_status())
}

/// Liveness answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    pub ok: bool,
}

/// Liveness probe
///
/// Answers as long as the daemon serves HTTP; no details, no credentials.
#[utoipa::path(get, path = "/health", tag = "status", operation_id = "health",
    responses((status = 200, body = Health)))]
pub(crate) async fn health() -> Json<Health> {
    Json(Health { ok: true })
}
