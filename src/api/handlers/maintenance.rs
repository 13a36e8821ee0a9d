//! The `maintenance` group: reboot, restart and restartMedia.

use std::convert::Infallible;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use utoipa::ToSchema;

use crate::api::error::{ApiError, ErrorBody};
use crate::api::params::Form;
use crate::daemon::Action;
use crate::daemon::Daemon;
use crate::model::Device;

/// Whether a running capture may be cut short.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ForceForm {
    /// Stop a running capture first (its files are finalised, its package becomes
    /// `complete`) instead of refusing with `409 maintenance.capturing`. Default false.
    #[serde(default)]
    pub force: bool,
}

/// Answer of reboot and restart: what is about to happen.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MaintenanceAccepted {
    /// `reboot` or `restart`.
    pub action: String,
    /// Capture sessions that are stopped and finalised first (only with `force=true`).
    #[serde(rename = "stoppedSessions")]
    pub stopped_sessions: Vec<String>,
}

/// Answer of restartMedia.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MediaRestarted {
    /// Capture sessions that were stopped and finalised first (only with `force=true`).
    #[serde(rename = "stoppedSessions")]
    pub stopped_sessions: Vec<String>,
    /// The devices found by the fresh scan.
    pub devices: Vec<Device>,
}

/// Reboot the unit
///
/// Answers `202` at once; after the answer went out castd stops its schedule, stops and
/// finalises every recording (only with `force=true`: otherwise a running capture is
/// refused with `409 maintenance.capturing`), then runs the configured `reboot_command`
/// (default `systemctl reboot`). Should the command fail, an `alarm` event
/// `maintenance.command_failed` is published and castd restarts so its schedule runs again.
#[utoipa::path(post, path = "/maintenance/reboot", tag = "maintenance", operation_id = "reboot",
    request_body(content = ForceForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 202, body = MaintenanceAccepted),
        (status = 409, body = ErrorBody, description = "A capture runs (`maintenance.capturing`), another maintenance action is under way (`maintenance.in_progress`), or reboot is disabled (`maintenance.disabled`)."),
    ))]
pub(crate) async fn reboot(
    State(daemon): State<Daemon>,
    Form(form): Form<ForceForm>,
) -> Result<Response, ApiError> {
    accept_and_carry_out(daemon, Action::Reboot, form.force)
}

/// Restart castd
///
/// Answers `202` at once; after the answer went out castd stops its schedule, stops and
/// finalises every recording (only with `force=true`, like reboot), then runs the
/// configured `restart_command`. Without one (the default) castd exits cleanly and its
/// service manager starts it again (`Restart=always` in castd.service). A scheduled event
/// cut short this way resumes when castd is back, inside the event's window.
#[utoipa::path(post, path = "/maintenance/restart", tag = "maintenance", operation_id = "restart",
    request_body(content = ForceForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 202, body = MaintenanceAccepted),
        (status = 409, body = ErrorBody, description = "A capture runs (`maintenance.capturing`) or another maintenance action is under way (`maintenance.in_progress`)."),
    ))]
pub(crate) async fn restart(
    State(daemon): State<Daemon>,
    Form(form): Form<ForceForm>,
) -> Result<Response, ApiError> {
    accept_and_carry_out(daemon, Action::Restart, form.force)
}

/// Rebuild the media engine and device layer
///
/// Without restarting castd: stops and finalises running captures (only with
/// `force=true`, otherwise `409 maintenance.capturing`), stops the pipeline kept ready for
/// hot starts and every device preview (releasing all capture devices), probes network
/// cameras and rescans every device plugin, and answers `200` with the devices found. The
/// ready pipeline is built again from those devices within a few seconds, previews when
/// next asked for. GStreamer itself and the set of encoders found at start stay as they
/// are (they cannot be re-initialised inside a running process).
#[utoipa::path(post, path = "/maintenance/restartMedia", tag = "maintenance", operation_id = "restartMedia",
    request_body(content = ForceForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = MediaRestarted),
        (status = 409, body = ErrorBody, description = "A capture runs (`maintenance.capturing`) or another maintenance action is under way (`maintenance.in_progress`)."),
    ))]
pub(crate) async fn restart_media(
    State(daemon): State<Daemon>,
    Form(form): Form<ForceForm>,
) -> Result<Json<MediaRestarted>, ApiError> {
    let done = daemon.restart_media(form.force).await?;
    Ok(Json(MediaRestarted {
        stopped_sessions: done.stopped_sessions,
        devices: done.devices,
    }))
}

/// Accepts `action`, answers 202, and has it carried out once the answer is out.
fn accept_and_carry_out(daemon: Daemon, action: Action, force: bool) -> Result<Response, ApiError> {
    let (sent, answered) = oneshot::channel();
    let stopped_sessions = daemon.reboot_or_restart(action, force, async move {
        let _ = answered.await;
    })?;
    let accepted = MaintenanceAccepted {
        action: action.as_str().to_string(),
        stopped_sessions,
    };
    Ok(tracked_json(StatusCode::ACCEPTED, &accepted, sent))
}

/// Signals when the connection has taken the whole answer (the body is dropped).
struct Answered(Option<oneshot::Sender<()>>);

impl Drop for Answered {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// A JSON answer that signals `sent` once its body has been handed over.
#[expect(
    clippy::expect_used,
    reason = "invariant: answers serialise and their headers are valid"
)]
fn tracked_json<T: Serialize>(
    status: StatusCode,
    value: &T,
    sent: oneshot::Sender<()>,
) -> Response {
    let bytes = Bytes::from(serde_json::to_vec(value).expect("answers serialise"));
    let length = bytes.len();
    let tx = sent;
    let body = futures_util::stream::unfold(
        (Some(bytes), Answered(Some(tx))),
        |(bytes, answered)| async move { bytes.map(|b| (Ok::<_, Infallible>(b), (None, answered))) },
    );
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, length)
        .body(Body::from_stream(body))
        .expect("a valid answer")
}
