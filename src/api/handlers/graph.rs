//! The `graphBuilder` group: graphs edited node by node, sessions started from them, and
//! services of the nodes of running sessions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::api::auth::CurrentUser;
use crate::api::error::ApiError;
use crate::api::params::{Form, PathParam};
use crate::daemon::Daemon;
use crate::model::{CaptureRequest, CaptureStatus, Graph, Node};

/// Parameters of invokeService.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct ServiceForm {
    /// The service's arguments (none of the current services takes any).
    #[serde(default)]
    #[schema(value_type = Object)]
    #[expect(
        dead_code,
        reason = "read by the OpenAPI schema only: no current service takes arguments"
    )]
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
pub(crate) async fn invoke_service(
    State(daemon): State<Daemon>,
    PathParam((graph, node, service)): PathParam<(String, String, String)>,
    Form(_form): Form<ServiceForm>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        daemon
            .engine()
            .node_service(&graph, &node, &service)
            .await?,
    ))
}

/// Summary of the graph builder
///
/// Graphs (saved ones and those being edited, with whether their current form is saved)
/// and every processor type with the JSON Schema of its options, what it produces and the
/// services it offers while a session runs.
#[utoipa::path(get, path = "/graphBuilder", tag = "graphBuilder", operation_id = "graphBuilder",
    responses((status = 200, description = "`{graphs: [{id, name, root, saved}], processorTypes: [{type, produces, options, services}]}`")))]
pub(crate) async fn graph_builder(State(daemon): State<Daemon>) -> Result<Json<Value>, ApiError> {
    let saved = daemon.graphs().saved().await?;
    let unsaved = daemon.graphs().unsaved().await?;
    let mut graphs: Vec<Value> = saved
        .iter()
        .map(|g| json!({"id": g.id, "name": g.name, "root": g.root, "saved": !unsaved.contains(&g.id)}))
        .collect();
    for id in unsaved
        .iter()
        .filter(|id| !saved.iter().any(|g| &g.id == *id))
    {
        let g = daemon.graphs().get(id).await?;
        graphs.push(json!({"id": g.id, "name": g.name, "root": g.root, "saved": false}));
    }
    Ok(Json(json!({
        "graphs": graphs,
        "processorTypes": crate::graph_builder::processor_types(),
    })))
}

/// Saved graphs
#[utoipa::path(get, path = "/graphBuilder/graphs", tag = "graphBuilder", operation_id = "listGraphs",
    responses((status = 200, body = Vec<Graph>)))]
pub(crate) async fn list_graphs(
    State(daemon): State<Daemon>,
) -> Result<Json<Vec<Graph>>, ApiError> {
    Ok(Json(daemon.graphs().saved().await?))
}

/// Parameters of newGraph.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct NewGraphForm {
    /// The root node (typically a `fileRecorder`); its id is the graph's root. Without an
    /// id it gets one, as in addNode.
    pub root: Node,
    /// A name for people.
    #[serde(default)]
    pub name: Option<String>,
}

/// Create a graph with a root node
///
/// The graph lives in memory (its id is `graph-` and 8 hex digits) until saved. Options are
/// checked and completed with defaults (422 `graph.invalid_option` naming the option).
#[utoipa::path(post, path = "/graphBuilder/graphs", tag = "graphBuilder", operation_id = "newGraph",
    request_body(content = NewGraphForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = Graph)))]
pub(crate) async fn new_graph(
    State(daemon): State<Daemon>,
    Form(form): Form<NewGraphForm>,
) -> Result<(StatusCode, Json<Graph>), ApiError> {
    let graph = daemon.graphs().create(form.root, form.name).await?;
    Ok((StatusCode::CREATED, Json(graph)))
}

/// Save a graph
///
/// Persists the graph in its current form; `listGraphs` shows it from then on, across
/// restarts.
#[utoipa::path(post, path = "/graphBuilder/graphs/{graphID}/save", tag = "graphBuilder", operation_id = "saveGraph",
    params(("graphID" = String, Path)),
    responses((status = 200, body = Graph)))]
pub(crate) async fn save_graph(
    State(daemon): State<Daemon>,
    PathParam(graph): PathParam<String>,
) -> Result<Json<Graph>, ApiError> {
    Ok(Json(daemon.graphs().save(&graph).await?))
}

/// Parameters of copyGraph.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CopyForm {
    /// Id of the node of the graph that is the copy's root.
    pub root: String,
}

/// Copy a graph with a new root
#[utoipa::path(post, path = "/graphBuilder/graphs/{graphID}/copy", tag = "graphBuilder", operation_id = "copyGraph",
    params(("graphID" = String, Path)),
    request_body(content = CopyForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Graph)))]
pub(crate) async fn copy_graph(
    State(daemon): State<Daemon>,
    PathParam(graph): PathParam<String>,
    Form(form): Form<CopyForm>,
) -> Result<Json<Graph>, ApiError> {
    Ok(Json(daemon.graphs().copy(&graph, &form.root).await?))
}

/// The complete graph JSON
///
/// The graph as it is being edited (which may differ from the saved form), secrets masked,
/// each node with the services it offers.
#[utoipa::path(get, path = "/graphBuilder/graphs/{graphID}", tag = "graphBuilder", operation_id = "getGraphJson",
    params(("graphID" = String, Path)),
    responses((status = 200, body = Graph)))]
pub(crate) async fn get_graph_json(
    State(daemon): State<Daemon>,
    PathParam(graph): PathParam<String>,
) -> Result<Json<Graph>, ApiError> {
    Ok(Json(daemon.graphs().get(&graph).await?))
}

/// Parameters of updateGraph.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct GraphChanges {
    /// A new name for people.
    #[serde(default)]
    pub name: Option<String>,
    /// Another node of the graph as its root.
    #[serde(default)]
    pub root: Option<String>,
}

/// Parameters of updateGraph.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct UpdateGraphForm {
    /// The fields to change (`name`, `root`); nodes change through their own routes.
    pub graph: GraphChanges,
}

/// Update a graph
///
/// Renames it and/or makes another of its nodes the root (404 `graph.node_not_found` for a
/// node it does not have). Unsaved until saveGraph, like every edit.
#[utoipa::path(post, path = "/graphBuilder/graphs/{graphID}", tag = "graphBuilder", operation_id = "updateGraph",
    params(("graphID" = String, Path)),
    request_body(content = UpdateGraphForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Graph)))]
pub(crate) async fn update_graph(
    State(daemon): State<Daemon>,
    PathParam(graph): PathParam<String>,
    Form(form): Form<UpdateGraphForm>,
) -> Result<Json<Graph>, ApiError> {
    Ok(Json(
        daemon
            .graphs()
            .update(&graph, form.graph.name, form.graph.root)
            .await?,
    ))
}

/// Delete a graph
///
/// Forgets the graph being edited and its saved form. A session started from it keeps
/// running: it compiled its own copy.
#[utoipa::path(delete, path = "/graphBuilder/graphs/{graphID}", tag = "graphBuilder", operation_id = "deleteGraph",
    params(("graphID" = String, Path)),
    responses((status = 204)))]
pub(crate) async fn delete_graph(
    State(daemon): State<Daemon>,
    PathParam(graph): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    daemon.graphs().delete(&graph).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The nodes of a graph
///
/// As in the complete graph JSON: secrets masked, with their services.
#[utoipa::path(get, path = "/graphBuilder/graphs/{graphID}/nodes", tag = "graphBuilder", operation_id = "getNodes",
    params(("graphID" = String, Path)),
    responses((status = 200, body = Vec<Node>)))]
pub(crate) async fn get_nodes(
    State(daemon): State<Daemon>,
    PathParam(graph): PathParam<String>,
) -> Result<Json<Vec<Node>>, ApiError> {
    Ok(Json(daemon.graphs().get(&graph).await?.nodes))
}

/// Parameters of updateNode.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct UpdateNodeForm {
    /// `options` to change (as configureNode) and `parents`/`children` to link (as
    /// attachNode); the node's id and type do not change.
    pub node: NodeChanges,
}

/// The fields of a node that change.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct NodeChanges {
    #[serde(default)]
    #[schema(value_type = Object)]
    pub options: Map<String, Value>,
    #[serde(default)]
    pub parents: Vec<String>,
    #[serde(default)]
    pub children: Vec<String>,
}

/// Update a node
///
/// configureNode and attachNode in one call: the options change and the links are added
/// together, or (422 `graph.invalid_option`, 409 `graph.cycle`) nothing changes.
#[utoipa::path(post, path = "/graphBuilder/graphs/{graphID}/nodes/{nodeID}", tag = "graphBuilder", operation_id = "updateNode",
    params(("graphID" = String, Path), ("nodeID" = String, Path)),
    request_body(content = UpdateNodeForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Node)))]
pub(crate) async fn update_node(
    State(daemon): State<Daemon>,
    PathParam((graph, node)): PathParam<(String, String)>,
    Form(form): Form<UpdateNodeForm>,
) -> Result<Json<Node>, ApiError> {
    let changes = form.node;
    Ok(Json(
        daemon
            .graphs()
            .update_node(
                &graph,
                &node,
                changes.options,
                changes.parents,
                changes.children,
            )
            .await?,
    ))
}

/// Parameters of addNode.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct AddNodeForm {
    /// `type`, `options`, `parents` and `children` (ids of nodes of the graph); an empty id
    /// gets one.
    pub node: Node,
}

/// Add a node
///
/// The node is linked to the parents and children it names (409 `graph.cycle` when that
/// would close a cycle); options are checked and completed.
#[utoipa::path(post, path = "/graphBuilder/graphs/{graphID}/nodes", tag = "graphBuilder", operation_id = "addNode",
    params(("graphID" = String, Path)),
    request_body(content = AddNodeForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = Node)))]
pub(crate) async fn add_node(
    State(daemon): State<Daemon>,
    PathParam(graph): PathParam<String>,
    Form(form): Form<AddNodeForm>,
) -> Result<(StatusCode, Json<Node>), ApiError> {
    let node = daemon.graphs().add_node(&graph, form.node).await?;
    Ok((StatusCode::CREATED, Json(node)))
}

/// One node
#[utoipa::path(get, path = "/graphBuilder/graphs/{graphID}/nodes/{nodeID}", tag = "graphBuilder", operation_id = "getNode",
    params(("graphID" = String, Path), ("nodeID" = String, Path)),
    responses((status = 200, body = Node)))]
pub(crate) async fn get_node(
    State(daemon): State<Daemon>,
    PathParam((graph, node)): PathParam<(String, String)>,
) -> Result<Json<Node>, ApiError> {
    Ok(Json(daemon.graphs().node(&graph, &node).await?))
}

/// Remove a node
///
/// Its links go with it. The root cannot be removed (409 `graph.root`).
#[utoipa::path(delete, path = "/graphBuilder/graphs/{graphID}/nodes/{nodeID}", tag = "graphBuilder", operation_id = "removeNode",
    params(("graphID" = String, Path), ("nodeID" = String, Path)),
    responses((status = 204)))]
pub(crate) async fn remove_node(
    State(daemon): State<Daemon>,
    PathParam((graph, node)): PathParam<(String, String)>,
) -> Result<StatusCode, ApiError> {
    daemon.graphs().remove_node(&graph, &node).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Parameters of attachNode.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct AttachForm {
    /// Nodes that feed this one.
    #[serde(default)]
    pub parents: Vec<String>,
    /// Nodes this one feeds.
    #[serde(default)]
    pub children: Vec<String>,
}

/// Attach a node to parents and children
///
/// Adds links (existing ones stay); 409 `graph.cycle` when one would close a cycle, and then
/// nothing changes.
#[utoipa::path(post, path = "/graphBuilder/graphs/{graphID}/nodes/{nodeID}/attach", tag = "graphBuilder", operation_id = "attachNode",
    params(("graphID" = String, Path), ("nodeID" = String, Path)),
    request_body(content = AttachForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Node)))]
pub(crate) async fn attach_node(
    State(daemon): State<Daemon>,
    PathParam((graph, node)): PathParam<(String, String)>,
    Form(form): Form<AttachForm>,
) -> Result<Json<Node>, ApiError> {
    Ok(Json(
        daemon
            .graphs()
            .attach(&graph, &node, form.parents, form.children)
            .await?,
    ))
}

/// A node's options with their schema
#[utoipa::path(get, path = "/graphBuilder/graphs/{graphID}/nodes/{nodeID}/options", tag = "graphBuilder", operation_id = "getNodeOptions",
    params(("graphID" = String, Path), ("nodeID" = String, Path)),
    responses((status = 200, description = "`{nodeID, type, options, schema}`; secrets masked")))]
pub(crate) async fn get_node_options(
    State(daemon): State<Daemon>,
    PathParam((graph, node)): PathParam<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(daemon.graphs().options(&graph, &node).await?))
}

/// Parameters of configureNode.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ConfigureForm {
    /// Options to change; others keep their value. A secret sent back masked keeps its value.
    #[schema(value_type = Object)]
    pub options: Map<String, Value>,
}

/// Configure a node
///
/// The changed options are checked with the rest (422 `graph.invalid_option` naming the
/// option; nothing changes then). A running session started from this graph keeps running
/// as it was compiled.
#[utoipa::path(post, path = "/graphBuilder/graphs/{graphID}/nodes/{nodeID}/options", tag = "graphBuilder", operation_id = "configureNode",
    params(("graphID" = String, Path), ("nodeID" = String, Path)),
    request_body(content = ConfigureForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Node)))]
pub(crate) async fn configure_node(
    State(daemon): State<Daemon>,
    PathParam((graph, node)): PathParam<(String, String)>,
    Form(form): Form<ConfigureForm>,
) -> Result<Json<Node>, ApiError> {
    Ok(Json(
        daemon
            .graphs()
            .configure(&graph, &node, form.options)
            .await?,
    ))
}

/// Parameters of startSession.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartForm {
    /// Optional: title, duration, tags, speaker … as in startCapture (`templateID` is
    /// ignored: the graph is the template).
    #[serde(default)]
    pub capture_request: Option<CaptureRequest>,
}

/// Start a session at this graph location
///
/// Records with the graph as it is now, rooted at this node (a `fileRecorder`); the graph
/// must pass every rule of a template's graph (422 `graph.invalid` saying which). The
/// session's `templateID` is the graph id. The usual capture rules apply (409
/// `capture.already_running`).
#[utoipa::path(post, path = "/graphBuilder/graphs/{graphID}/nodes/{nodeID}/session/start", tag = "graphBuilder", operation_id = "startSession",
    params(("graphID" = String, Path), ("nodeID" = String, Path)),
    request_body(content = StartForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = CaptureStatus)))]
pub(crate) async fn start_session(
    State(daemon): State<Daemon>,
    CurrentUser(user): CurrentUser,
    PathParam((graph_id, node)): PathParam<(String, String)>,
    Form(form): Form<StartForm>,
) -> Result<(StatusCode, Json<CaptureStatus>), ApiError> {
    let status = daemon
        .start_graph_session(&user, &graph_id, &node, form.capture_request)
        .await?;
    Ok((StatusCode::CREATED, Json(status)))
}

/// Stop the session at this graph location
///
/// Stops the running session started from this graph (or template); 409 `capture.idle`
/// when there is none.
#[utoipa::path(post, path = "/graphBuilder/graphs/{graphID}/nodes/{nodeID}/session/stop", tag = "graphBuilder", operation_id = "stopSession",
    params(("graphID" = String, Path), ("nodeID" = String, Path)),
    responses((status = 200, body = CaptureStatus)))]
pub(crate) async fn stop_session(
    State(daemon): State<Daemon>,
    PathParam((graph_id, _node)): PathParam<(String, String)>,
) -> Result<Json<CaptureStatus>, ApiError> {
    Ok(Json(daemon.stop_graph_session(&graph_id).await?))
}
