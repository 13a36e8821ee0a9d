//! The `settings` group.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::error::ApiError;
use crate::api::params::{Form, PathParam};
use crate::daemon::Daemon;
use crate::model::Setting;

/// All settings of the unit
#[utoipa::path(get, path = "/settings", tag = "settings", operation_id = "getSettings",
    responses((status = 200, body = Vec<Setting>)))]
pub(crate) async fn get_settings(State(daemon): State<Daemon>) -> Json<Vec<Setting>> {
    Json(daemon.settings().all())
}

/// Parameters of updateSettings.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct UpdateSettingsForm {
    /// Key → new value; keys not named are left as they are.
    #[schema(value_type = Object)]
    pub settings: BTreeMap<String, serde_json::Value>,
}

/// Update several settings
///
/// All-or-nothing: if any key is unknown or any value invalid, nothing changes. Settings
/// not named keep their values.
#[utoipa::path(post, path = "/settings", tag = "settings", operation_id = "updateSettings",
    request_body(content = UpdateSettingsForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Vec<Setting>)))]
pub(crate) async fn update_settings(
    State(daemon): State<Daemon>,
    Form(form): Form<UpdateSettingsForm>,
) -> Result<Json<Vec<Setting>>, ApiError> {
    Ok(Json(daemon.settings().update_many(form.settings).await?))
}

/// One setting
#[utoipa::path(get, path = "/settings/{key}", tag = "settings", operation_id = "getSetting",
    params(("key" = String, Path, description = "Setting key, e.g. unitName")),
    responses((status = 200, body = Setting)))]
pub(crate) async fn get_setting(
    State(daemon): State<Daemon>,
    PathParam(key): PathParam<String>,
) -> Result<Json<Setting>, ApiError> {
    Ok(Json(daemon.settings().get(&key)?))
}

/// Parameters of updateSetting.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct UpdateSettingForm {
    /// The new value (JSON, or plain text for strings).
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
}

/// Update one setting
#[utoipa::path(post, path = "/settings/{key}", tag = "settings", operation_id = "updateSetting",
    params(("key" = String, Path, description = "Setting key, e.g. unitName")),
    request_body(content = UpdateSettingForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Setting)))]
pub(crate) async fn update_setting(
    State(daemon): State<Daemon>,
    PathParam(key): PathParam<String>,
    Form(form): Form<UpdateSettingForm>,
) -> Result<Json<Setting>, ApiError> {
    Ok(Json(daemon.settings().update(&key, form.value).await?))
}
