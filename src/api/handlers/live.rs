//! The `liveStreamViewer` group: JPEG previews and audio levels.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::error::{ApiError, ErrorCode};
use crate::api::params::{PathParam, Query};
use crate::daemon::Daemon;
use crate::engine::CaptureError;
use crate::model::AudioLevels;

fn jpeg(bytes: Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        bytes,
    )
        .into_response()
}

/// Which node's picture.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct NodeQuery {
    /// A video node of the session; the main picture when absent.
    pub node: Option<String>,
}

/// The running session's picture
///
/// JPEG of the main recording's picture (or `?node=`), at most `previewIntervalMs` old.
#[utoipa::path(get, path = "/liveStreamViewer/session", tag = "liveStreamViewer", operation_id = "getSessionPreview",
    params(NodeQuery),
    responses((status = 200, description = "JPEG", content_type = "image/jpeg")))]
pub(crate) async fn get_session_preview(
    State(daemon): State<Daemon>,
    Query(q): Query<NodeQuery>,
) -> Result<Response, ApiError> {
    match daemon.engine().session_snapshot(q.node.as_deref()) {
        Ok(bytes) => Ok(jpeg(bytes)),
        Err(CaptureError::Idle) => Err(ApiError::new(
            ErrorCode::PreviewNoSession,
            "no capture is running",
        )),
        Err(e) => Err(e.into()),
    }
}

/// A video device's picture
///
/// JPEG, at most `previewIntervalMs` old. A device no capture uses is previewed on demand
/// (the first answer may take a moment); the preview stops when nobody asks for 30 s.
/// When the pipeline holding the device is replaced while the request waits (the hot
/// inputs are rebuilt after a capture, a capture takes the device), the request waits for
/// the new one; `503 preview.restarting` with `Retry-After` if that keeps happening.
#[utoipa::path(get, path = "/liveStreamViewer/video/{deviceID}", tag = "liveStreamViewer", operation_id = "getVideoDevicePreview",
    params(("deviceID" = String, Path)),
    responses((status = 200, description = "JPEG", content_type = "image/jpeg")))]
pub(crate) async fn get_video_device_preview(
    State(daemon): State<Daemon>,
    PathParam(device): PathParam<String>,
) -> Result<Response, ApiError> {
    Ok(jpeg(daemon.engine().device_snapshot(&device).await?))
}

/// Start previewing a video device
///
/// Answers its first JPEG, following the device to a rebuilt pipeline like
/// `getVideoDevicePreview`.
#[utoipa::path(post, path = "/liveStreamViewer/video/{deviceID}", tag = "liveStreamViewer", operation_id = "createVideoDevicePreview",
    params(("deviceID" = String, Path)),
    responses((status = 200, description = "JPEG", content_type = "image/jpeg")))]
pub(crate) async fn create_video_device_preview(
    State(daemon): State<Daemon>,
    PathParam(device): PathParam<String>,
) -> Result<Response, ApiError> {
    Ok(jpeg(daemon.engine().device_snapshot(&device).await?))
}

/// An audio device's levels
///
/// Peak and RMS in dB per channel, and whether it is silent.
#[utoipa::path(get, path = "/liveStreamViewer/audio/{deviceID}", tag = "liveStreamViewer", operation_id = "getAudioDevicePreview",
    params(("deviceID" = String, Path)),
    responses((status = 200, body = AudioLevels)))]
pub(crate) async fn get_audio_device_preview(
    State(daemon): State<Daemon>,
    PathParam(device): PathParam<String>,
) -> Result<Json<AudioLevels>, ApiError> {
    Ok(Json(daemon.engine().device_levels(&device).await?))
}

/// Start metering an audio device
#[utoipa::path(post, path = "/liveStreamViewer/audio/{deviceID}", tag = "liveStreamViewer", operation_id = "createAudioDevicePreview",
    params(("deviceID" = String, Path)),
    responses((status = 200, body = AudioLevels)))]
pub(crate) async fn create_audio_device_preview(
    State(daemon): State<Daemon>,
    PathParam(device): PathParam<String>,
) -> Result<Json<AudioLevels>, ApiError> {
    Ok(Json(daemon.engine().device_levels(&device).await?))
}
