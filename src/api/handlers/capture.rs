//! The `capture` group.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::daemon::Daemon;

/// Answer of deviceCaptureAvailable.
#[derive(Debug, Serialize, ToSchema)]
pub struct Available {
    pub available: bool,
}

/// Whether device capture is available
///
/// True when at least one device-capture plugin is enabled.
#[utoipa::path(get, path = "/capture/deviceCaptureAvailable", tag = "capture", operation_id = "deviceCaptureAvailable",
    responses((status = 200, body = Available)))]
pub async fn device_capture_available(State(daemon): State<Daemon>) -> Json<Available> {
    Json(Available {
        available: daemon.plugins.device_capture_available(),
    })
}

/// Answer of concurrentCapturesEnabled.
#[derive(Debug, Serialize, ToSchema)]
pub struct Enabled {
    pub enabled: bool,
}

/// Whether concurrent captures are enabled
///
/// The `concurrentCaptures` setting.
#[utoipa::path(get, path = "/capture/concurrentCapturesEnabled", tag = "capture", operation_id = "concurrentCapturesEnabled",
    responses((status = 200, body = Enabled)))]
pub async fn concurrent_captures_enabled(State(daemon): State<Daemon>) -> Json<Enabled> {
    Json(Enabled {
        enabled: daemon.settings.concurrent_captures(),
    })
}
