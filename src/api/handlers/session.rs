//! The `sessionStatus` and `sessionOutput` groups.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Request, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::error::{ApiError, ErrorCode};
use crate::api::files;
use crate::api::params::{PathParam, Query};
use crate::daemon::Daemon;
use crate::engine::CaptureError;
use crate::model::NodeStatus;

/// Which session (only needed when several capture).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SessionQuery {
    #[serde(rename = "sessionID")]
    #[param(rename = "sessionID")]
    pub session_id: Option<String>,
}

fn no_session(e: CaptureError) -> ApiError {
    match e {
        CaptureError::Idle => ApiError::new(ErrorCode::SessionNone, "no capture session exists"),
        other => other.into(),
    }
}

/// Status of every node of the running session
///
/// Per node: state, buffers, frames per second, drops, bitrate, signal (and since when it
/// is lost), last error, encoder.
#[utoipa::path(get, path = "/sessionStatus", tag = "sessionStatus", operation_id = "getSessionStatus",
    params(SessionQuery),
    responses((status = 200, body = Vec<NodeStatus>)))]
pub(crate) async fn get_session_status(
    State(daemon): State<Daemon>,
    Query(q): Query<SessionQuery>,
) -> Result<Json<Vec<NodeStatus>>, ApiError> {
    daemon
        .engine()
        .node_statuses(q.session_id.as_deref())
        .map(Json)
        .map_err(no_session)
}

/// A file a node produced.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NodeFile {
    pub file: String,
    /// Bytes written so far.
    pub size: u64,
}

fn files_of(
    daemon: &Daemon,
) -> Result<(std::path::PathBuf, BTreeMap<String, Vec<NodeFile>>), ApiError> {
    let (dir, outputs) = daemon.engine().session_outputs().map_err(no_session)?;
    let listed = outputs
        .into_iter()
        .map(|(node, files)| {
            let files = files
                .into_iter()
                .map(|file| NodeFile {
                    size: std::fs::metadata(dir.join(&file))
                        .map(|m| m.len())
                        .unwrap_or(0),
                    file,
                })
                .collect();
            (node, files)
        })
        .collect();
    Ok((dir, listed))
}

/// Files every node of the session produced
#[utoipa::path(get, path = "/sessionOutput", tag = "sessionOutput", operation_id = "getAllOutputs",
    responses((status = 200, description = "node id → files", body = BTreeMap<String, Vec<NodeFile>>)))]
pub(crate) async fn get_all_outputs(
    State(daemon): State<Daemon>,
) -> Result<Json<BTreeMap<String, Vec<NodeFile>>>, ApiError> {
    Ok(Json(files_of(&daemon)?.1))
}

/// Files one node produced
#[utoipa::path(get, path = "/sessionOutput/{nodeID}", tag = "sessionOutput", operation_id = "getNodeOutputs",
    params(("nodeID" = String, Path)),
    responses((status = 200, body = Vec<NodeFile>)))]
pub(crate) async fn get_node_outputs(
    State(daemon): State<Daemon>,
    PathParam(node): PathParam<String>,
) -> Result<Json<Vec<NodeFile>>, ApiError> {
    let (_, mut all) = files_of(&daemon)?;
    all.remove(&node).map(Json).ok_or_else(|| {
        ApiError::new(
            ErrorCode::PackageNoOutput,
            format!("node {node} produces no files"),
        )
        .with("entry", node)
    })
}

/// One file a node produced
///
/// HTTP Range supported. Only files the node produced, inside the session directory.
#[utoipa::path(get, path = "/sessionOutput/{nodeID}/{file}", tag = "sessionOutput", operation_id = "getNodeOutputFile",
    params(("nodeID" = String, Path), ("file" = String, Path)),
    responses((status = 200, description = "The file"), (status = 206, description = "Part of the file")))]
pub(crate) async fn get_node_output_file(
    State(daemon): State<Daemon>,
    PathParam((node, file)): PathParam<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let (dir, all) = files_of(&daemon)?;
    let produced = all
        .get(&node)
        .is_some_and(|files| files.iter().any(|f| f.file == file));
    if !produced {
        return Err(ApiError::new(
            ErrorCode::PackageNoOutput,
            format!("node {node} produced no file {file:?}"),
        )
        .with("entry", file));
    }
    let path = crate::packages::safe_join(&dir, &file)?;
    files::serve(&path, request, None).await
}
