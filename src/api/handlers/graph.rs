//! The `graphBuilder` group: services of the nodes of running sessions.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::error::ApiError;
use crate::api::params::{Form, PathParam};
use crate::daemon::Daemon;

/// Parameters of invokeService.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ServiceForm {
    /// The service's arguments (none of the current services takes any).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub args: Option<Value>,
}

/// Invoke a node service
///
/// `graphID` is a running session's id or its template's id. An `rtmpOutput` node offers
/// `enable` and `disable` (start or stop streaming to that platform during the session;
/// the recording is not affected) and `stats`; each answers the stream's figures: state
/// (`waiting`, `connecting`, `live`, `reconnecting`, `disabled`), alive, bitrate, fps,
/// width, height, codecs, bytes sent, reconnects, last error.
#[utoipa::path(post, path = "/graphBuilder/graphs/{graphID}/nodes/{nodeID}/services/{service}", tag = "graphBuilder", operation_id = "invokeService",
    params(("graphID" = String, Path), ("nodeID" = String, Path), ("service" = String, Path)),
    request_body(content = ServiceForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = crate::model::StreamStats)))]
pub async fn invoke_service(
    State(daemon): State<Daemon>,
    PathParam((graph, node, service)): PathParam<(String, String, String)>,
    Form(_form): Form<ServiceForm>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(daemon.engine.node_service(&graph, &node, &service)?))
}
