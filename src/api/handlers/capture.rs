//! The `capture` group.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::auth::CurrentUser;
use crate::api::error::ApiError;
use crate::api::params::Form;
use crate::daemon::Daemon;
use crate::model::{CaptureRequest, CaptureStatus, Marker};

/// Answer of deviceCaptureAvailable.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Available {
    pub available: bool,
}

/// Whether device capture is available
///
/// True when at least one device-capture plugin is enabled.
#[utoipa::path(get, path = "/capture/deviceCaptureAvailable", tag = "capture", operation_id = "deviceCaptureAvailable",
    responses((status = 200, body = Available)))]
pub(crate) async fn device_capture_available(State(daemon): State<Daemon>) -> Json<Available> {
    Json(Available {
        available: daemon.plugins().device_capture_available(),
    })
}

/// Answer of concurrentCapturesEnabled.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Enabled {
    pub enabled: bool,
}

/// Whether concurrent captures are enabled
///
/// The `concurrentCaptures` setting.
#[utoipa::path(get, path = "/capture/concurrentCapturesEnabled", tag = "capture", operation_id = "concurrentCapturesEnabled",
    responses((status = 200, body = Enabled)))]
pub(crate) async fn concurrent_captures_enabled(State(daemon): State<Daemon>) -> Json<Enabled> {
    Json(Enabled {
        enabled: daemon.settings().concurrent_captures(),
    })
}

/// Parameters of startCapture.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartForm {
    pub capture_request: CaptureRequest,
}

/// Start a capture session
///
/// Records with the request's template (by id or name; the `defaultTemplate` setting when
/// absent). With the template's inputs kept hot this only opens the record gate. Answers
/// once recording runs. `speaker` may be a speaker id, a speaker name or an inline Speaker
/// object (`0`, `null` or `""`: no speaker); the media package keeps the full speaker as it
/// is at the start in `speakerInfo` (a name no speaker has is kept as an inline speaker;
/// 422 `speakers.unknown_reference` for an unknown id).
///
/// `publishingOverrides` from a caller below Administrator may set only the harmless keys
/// listed at CaptureRequest (403 `publish.override_forbidden`, or
/// `publish.outside_configured` for a folder or prefix not below the configured one); a
/// malformed value is 422 `publish.invalid_overrides`. Nothing starts then.
#[utoipa::path(post, path = "/capture/start", tag = "capture", operation_id = "startCapture",
    request_body(content = StartForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = CaptureStatus)))]
pub(crate) async fn start_capture(
    State(daemon): State<Daemon>,
    CurrentUser(user): CurrentUser,
    Form(form): Form<StartForm>,
) -> Result<(StatusCode, Json<CaptureStatus>), ApiError> {
    let status = daemon.start_capture(&user, form.capture_request).await?;
    Ok((StatusCode::CREATED, Json(status)))
}

/// Which session an action is for.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SessionForm {
    /// Needed only when several captures run.
    #[serde(rename = "sessionID", default)]
    pub session_id: Option<String>,
}

/// Stop a capture session
///
/// The files are completed at once; the session is then `processing` (files made final,
/// checksums, thumbnail) and the media package `complete`.
#[utoipa::path(post, path = "/capture/stop", tag = "capture", operation_id = "stopCapture",
    request_body(content = SessionForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = CaptureStatus)))]
pub(crate) async fn stop_capture(
    State(daemon): State<Daemon>,
    Form(form): Form<SessionForm>,
) -> Result<Json<CaptureStatus>, ApiError> {
    Ok(Json(daemon.engine().stop(form.session_id).await?))
}

/// Pause a capture session
///
/// The paused span is left out of the recording; previews keep running.
#[utoipa::path(post, path = "/capture/pause", tag = "capture", operation_id = "pauseCapture",
    request_body(content = SessionForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = CaptureStatus)))]
pub(crate) async fn pause_capture(
    State(daemon): State<Daemon>,
    Form(form): Form<SessionForm>,
) -> Result<Json<CaptureStatus>, ApiError> {
    Ok(Json(daemon.engine().pause(form.session_id).await?))
}

/// Resume a paused capture session
///
/// Video continues on a new keyframe, with no gap in the file.
#[utoipa::path(post, path = "/capture/resume", tag = "capture", operation_id = "resumeCapture",
    request_body(content = SessionForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = CaptureStatus)))]
pub(crate) async fn resume_capture(
    State(daemon): State<Daemon>,
    Form(form): Form<SessionForm>,
) -> Result<Json<CaptureStatus>, ApiError> {
    Ok(Json(daemon.engine().resume(form.session_id).await?))
}

/// Parameters of extendCapture.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ExtendForm {
    /// Milliseconds to add to the stop time.
    pub duration: i64,
    #[serde(rename = "sessionID", default)]
    pub session_id: Option<String>,
}

/// Move a capture's stop time later
#[utoipa::path(post, path = "/capture/extend", tag = "capture", operation_id = "extendCapture",
    request_body(content = ExtendForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = CaptureStatus)))]
pub(crate) async fn extend_capture(
    State(daemon): State<Daemon>,
    Form(form): Form<ExtendForm>,
) -> Result<Json<CaptureStatus>, ApiError> {
    Ok(Json(
        daemon
            .engine()
            .extend(form.session_id, form.duration)
            .await?,
    ))
}

/// Parameters of addMarker.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct MarkerForm {
    /// 1 to 256 characters.
    #[schema(min_length = 1, max_length = 256)]
    pub title: String,
    /// At most 4,096 characters.
    #[serde(default)]
    #[schema(max_length = 4096)]
    pub description: Option<String>,
    #[serde(rename = "sessionID", default)]
    pub session_id: Option<String>,
}

/// Mark a point of the recording
///
/// The marker's time is the recorded time (pauses left out) at the call. A title is 1 to
/// 256 characters and a description at most 4,096 (422 `capture.invalid_marker`); a session
/// takes at most 1,000 markers (409 `capture.too_many_markers`).
#[utoipa::path(post, path = "/capture/marker", tag = "capture", operation_id = "addMarker",
    request_body(content = MarkerForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = Marker)))]
pub(crate) async fn add_marker(
    State(daemon): State<Daemon>,
    Form(form): Form<MarkerForm>,
) -> Result<(StatusCode, Json<Marker>), ApiError> {
    let marker = daemon
        .engine()
        .marker(form.session_id, form.title, form.description)
        .await?;
    Ok((StatusCode::CREATED, Json(marker)))
}
