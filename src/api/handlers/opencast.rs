//! The `opencast` group: the capture-agent link's configuration and connection test
//! (Administrator only: they hold the Opencast user's password and decide where the unit
//! reports), its status (anyone who may view the unit's status) and "sync now".

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::api::error::ApiError;
use crate::api::params::Form;
use crate::daemon::Daemon;
use crate::opencast::link::TestReport;
use crate::opencast::runner::LinkStatus;

/// The Opencast link's configuration
///
/// The configuration in force, the password masked, and the service endpoints the last
/// test found (`endpoints`: captureAdmin, scheduler, ingest, each with `url` and
/// `discoveredAt`).
#[utoipa::path(get, path = "/opencast/config", tag = "opencast", operation_id = "getOpencastConfig",
    responses((status = 200, body = Object)))]
pub(crate) async fn get_opencast_config(
    State(daemon): State<Daemon>,
) -> Result<Json<Value>, ApiError> {
    let link = daemon.opencast();
    let config = link.config().await?.masked();
    let endpoints = link.endpoints().await?;
    Ok(Json(json!({"config": config, "endpoints": endpoints})))
}

/// Parameters of updateOpencastConfig.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct UpdateOpencastConfigForm {
    /// The fields to change, as a JSON object (`url`, `auth` basic|digest, `username`,
    /// `password` (write-only; the mask keeps the stored one), `agentName`, `address`,
    /// `pollSecs`, `stateSecs`, `lookaheadDays`, `fullRefreshSecs`, `serviceOverrides`,
    /// `templateID`, `flavors`, `ingestDelaySecs`, `ingestRateKbps`, `backupMode`,
    /// `enabled`). Fields not named keep their values.
    #[schema(value_type = Object)]
    pub config: Map<String, Value>,
}

/// Change the Opencast link's configuration
///
/// All-or-nothing: a field that does not validate is `422 opencast.invalid_config` naming
/// it, and nothing changes. Answers the configuration in force, the password masked.
#[utoipa::path(post, path = "/opencast/config", tag = "opencast", operation_id = "updateOpencastConfig",
    request_body(content = UpdateOpencastConfigForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Object)))]
pub(crate) async fn update_opencast_config(
    State(daemon): State<Daemon>,
    Form(form): Form<UpdateOpencastConfigForm>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(daemon.update_opencast_config(form.config).await?))
}

/// Test the Opencast link
///
/// Signs in as the configured user, checks that it holds ROLE_CAPTURE_AGENT or ROLE_ADMIN
/// (Opencast answers `/info/me.json` to anyone, so a 200 alone proves nothing), asks the
/// service registry for capture-admin, scheduler and ingest (an override replaces what the
/// registry says) and keeps what it found. Opencast's failures are `502 opencast.failed`
/// with `params.code`.
#[utoipa::path(post, path = "/opencast/test", tag = "opencast", operation_id = "testOpencast",
    responses((status = 200, body = Object)))]
pub(crate) async fn test_opencast(
    State(daemon): State<Daemon>,
) -> Result<Json<TestReport>, ApiError> {
    Ok(Json(daemon.opencast().test().await?))
}

/// The Opencast link's status
///
/// What the capture agent last saw: whether agent mode is on, the agent state last
/// reported, when Opencast last answered (`lastContact`), the last failure (`lastError`:
/// `code`, `message`, `during`, `at`), when the calendar was last fetched and fetched in
/// full, how many Opencast events it holds and which it could not schedule (`rejected`),
/// the recording states waiting to be sent (`outbox`) and the Opencast ingests queued or
/// running (`ingestQueue`). Holds no secret.
#[utoipa::path(get, path = "/opencast/status", tag = "opencast", operation_id = "getOpencastStatus",
    responses((status = 200, body = Object)))]
pub(crate) async fn get_opencast_status(State(daemon): State<Daemon>) -> Json<LinkStatus> {
    Json(daemon.opencast_status())
}

/// Sync with Opencast now
///
/// Asks the agent to fetch the whole calendar (without `If-None-Match`), report its state
/// and send the waiting recording states now rather than at the next poll. Answers at once
/// (`202`); `getOpencastStatus` shows what came of it.
#[utoipa::path(post, path = "/opencast/sync", tag = "opencast", operation_id = "syncOpencast",
    responses((status = 202, body = Object)))]
pub(crate) async fn sync_opencast(
    State(daemon): State<Daemon>,
) -> (axum::http::StatusCode, Json<Value>) {
    daemon.opencast_sync_now();
    (
        axum::http::StatusCode::ACCEPTED,
        Json(json!({"status": daemon.opencast_status()})),
    )
}
