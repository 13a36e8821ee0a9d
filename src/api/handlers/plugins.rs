//! The `plugins` group.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::error::ApiError;
use crate::api::handlers::publishing::service_failure;
use crate::api::params::{Form, PathParam};
use crate::daemon::Daemon;
use crate::plugins::Plugin;

/// All installed plugins
#[utoipa::path(get, path = "/plugins", tag = "plugins", operation_id = "getPlugins",
    responses((status = 200, body = Vec<Plugin>)))]
pub(crate) async fn get_plugins(
    State(daemon): State<Daemon>,
) -> Result<Json<Vec<Plugin>>, ApiError> {
    Ok(Json(daemon.all_plugins().await?))
}

/// One installed plugin
#[utoipa::path(get, path = "/plugins/{id}", tag = "plugins", operation_id = "getPlugin",
    params(("id" = String, Path, description = "Plugin id, e.g. network")),
    responses((status = 200, body = Plugin)))]
pub(crate) async fn get_plugin(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
) -> Result<Json<Plugin>, ApiError> {
    Ok(Json(daemon.plugin(&id).await?))
}
/// A plugin's settings
///
/// Secrets (passwords, keys) are shown masked as `••••` plus, for long ones, their last
/// four characters.
#[utoipa::path(get, path = "/plugins/{id}/settings", tag = "plugins", operation_id = "getPluginSettings",
    params(("id" = String, Path, description = "Plugin id, e.g. network")),
    responses((status = 200, description = "The settings object")))]
pub(crate) async fn get_plugin_settings(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(daemon.plugin_settings(&id).await?))
}

/// Parameters of updatePluginSettings.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct UpdatePluginSettingsForm {
    /// Top-level keys to replace; others stay. A secret sent back masked keeps its value.
    #[schema(value_type = Object)]
    pub settings: BTreeMap<String, Value>,
}

/// Change a plugin's settings
///
/// The named top-level keys replace the current ones; the result is validated as a whole
/// (nothing changes when it fails) and applied at once: devices are re-scanned.
#[utoipa::path(post, path = "/plugins/{id}/settings", tag = "plugins", operation_id = "updatePluginSettings",
    params(("id" = String, Path, description = "Plugin id, e.g. network")),
    request_body(content = UpdatePluginSettingsForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The settings object, secrets masked")))]
pub(crate) async fn update_plugin_settings(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
    Form(form): Form<UpdatePluginSettingsForm>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        daemon.update_plugin_settings(&id, form.settings).await?,
    ))
}

/// Parameters of invokePluginService.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct InvokeServiceForm {
    /// The service's arguments.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub args: Option<Value>,
}

/// Invoke a plugin service
///
/// `getPlugins` lists each plugin's services. Device plugins offer `redetect`; the `test`
/// plugin also `vanish`, `loseSignal` and `restore` with `args={"device":"test:camera"}`.
/// Publisher services (`flowcapture`'s `listGroups`, `listProjects`; `opencast`'s
/// `listWorkflows`; `s3`'s `listObjects`) use the stored configuration; a target that does
/// not answer properly is 502 `publish.service_failed`.
#[utoipa::path(post, path = "/plugins/{id}/services/{service}", tag = "plugins", operation_id = "invokePluginService",
    params(("id" = String, Path), ("service" = String, Path)),
    request_body(content = InvokeServiceForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The service's result")))]
pub(crate) async fn invoke_plugin_service(
    State(daemon): State<Daemon>,
    PathParam((id, service)): PathParam<(String, String)>,
    Form(form): Form<InvokeServiceForm>,
) -> Result<Json<Value>, ApiError> {
    let args = form.args.unwrap_or(Value::Null);
    match daemon.invoke_plugin_service(&id, &service, args).await? {
        Ok(result) => Ok(Json(result)),
        Err(failure) => Err(service_failure(&id, failure)),
    }
}
