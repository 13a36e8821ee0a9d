//! Templates of the `capture` group: list, read, save, delete, test, preflight, pipeline.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::error::{ApiError, ErrorCode};
use crate::api::params::{Form, PathParam};
use crate::daemon::Daemon;
use crate::model::{Preflight, Template, TestReport};
use crate::templates::masked;

/// All templates
#[utoipa::path(get, path = "/capture/templates", tag = "capture", operation_id = "getTemplates",
    responses((status = 200, body = Vec<Template>)))]
pub(crate) async fn get_templates(
    State(daemon): State<Daemon>,
) -> Result<Json<Vec<Template>>, ApiError> {
    Ok(Json(
        daemon
            .templates()
            .list()
            .await?
            .iter()
            .map(masked)
            .collect(),
    ))
}

/// One template
///
/// By id or name. Secrets in node options are masked.
#[utoipa::path(get, path = "/capture/templates/{id}", tag = "capture", operation_id = "getTemplate",
    params(("id" = String, Path, description = "Template id or name")),
    responses((status = 200, body = Template)))]
pub(crate) async fn get_template(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
) -> Result<Json<Template>, ApiError> {
    Ok(Json(masked(&daemon.templates().get(&id).await?)))
}

/// Parameters of saveTemplate.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SaveForm {
    pub template: Template,
}

/// Create or update a template
///
/// An `id` updates the template that has it (or creates one with that id). Without an `id`
/// a new template is created, with an id derived from the name that no template has yet
/// (`lecture-2` when `lecture` exists): a save without an id never replaces a template. A
/// name another template has is 409 `templates.duplicate_name` (`params.id` names that
/// template). The graph is validated: 422 `templates.invalid` names the node and option at
/// fault. A secret sent back masked keeps its stored value.
#[utoipa::path(post, path = "/capture/templates", tag = "capture", operation_id = "saveTemplate",
    request_body(content = SaveForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Template)))]
pub(crate) async fn save_template(
    State(daemon): State<Daemon>,
    Form(form): Form<SaveForm>,
) -> Result<Json<Template>, ApiError> {
    Ok(Json(masked(&daemon.templates().save(form.template).await?)))
}

/// Update a template
///
/// The template `id` names (its id or name) takes the sent template; the sent `id`, if any,
/// is ignored. Validated like saveTemplate; 404 `templates.not_found` when no template has
/// that id or name.
#[utoipa::path(post, path = "/capture/templates/{id}", tag = "capture", operation_id = "updateTemplate",
    params(("id" = String, Path, description = "Template id or name")),
    request_body(content = SaveForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Template)))]
pub(crate) async fn update_template(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
    Form(form): Form<SaveForm>,
) -> Result<Json<Template>, ApiError> {
    Ok(Json(masked(
        &daemon.templates().update(&id, form.template).await?,
    )))
}

/// Delete a template
///
/// Refused (409 `templates.in_use`) while a capture uses it.
#[utoipa::path(delete, path = "/capture/templates/{id}", tag = "capture", operation_id = "deleteTemplate",
    params(("id" = String, Path)),
    responses((status = 204)))]
pub(crate) async fn delete_template(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    daemon.delete_template(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The pipeline a template compiles to
///
/// As text: one GStreamer element per line with its properties, then the links, for the
/// devices present now. Secrets are masked.
#[utoipa::path(get, path = "/capture/templates/{id}/pipeline", tag = "capture", operation_id = "pipelinePreview",
    params(("id" = String, Path)),
    responses((status = 200, description = "The pipeline as text", content_type = "text/plain")))]
pub(crate) async fn pipeline_preview(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let text = daemon.template_pipeline(&id).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text))
}

/// Parameters of testTemplate and preflightTemplate.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct DurationForm {
    /// Milliseconds (test: how long to run, default 10000, at most 60000; preflight: the
    /// intended recording length for the disk check, default two hours).
    #[serde(default)]
    pub duration: Option<i64>,
}

/// Test a template for ten seconds
///
/// Runs the template for `duration` ms with nothing kept and reports per node: buffers,
/// frames per second, drops, bitrate, errors, and a JPEG (base64) per video node. Refused
/// while a capture runs.
#[utoipa::path(post, path = "/capture/templates/{id}/test", tag = "capture", operation_id = "testTemplate",
    params(("id" = String, Path)),
    request_body(content = DurationForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = TestReport)))]
pub(crate) async fn test_template(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
    Form(form): Form<DurationForm>,
) -> Result<Json<TestReport>, ApiError> {
    let ms = form.duration.unwrap_or(10_000);
    if !(1000..=60_000).contains(&ms) {
        return Err(ApiError::new(
            ErrorCode::CaptureInvalidRequest,
            format!("duration must be 1000 to 60000 ms, got {ms}"),
        ));
    }
    Ok(Json(
        daemon
            .test_template(&id, Duration::from_millis(ms as u64))
            .await?,
    ))
}

/// Check whether a template can record now
///
/// Green, yellow or red checks with codes: devices present and with signal, encoders
/// available, disk space for the duration at the template's bitrate, publishing. Runs no
/// media.
#[utoipa::path(post, path = "/capture/templates/{id}/preflight", tag = "capture", operation_id = "preflightTemplate",
    params(("id" = String, Path)),
    request_body(content = DurationForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Preflight)))]
pub(crate) async fn preflight_template(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
    Form(form): Form<DurationForm>,
) -> Result<Json<Preflight>, ApiError> {
    Ok(Json(daemon.preflight_template(&id, form.duration).await?))
}
