//! The `speakers` group.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::api::error::ApiError;
use crate::api::params::{Form, PathParam};
use crate::daemon::Daemon;
use crate::model::Speaker;

/// All speakers
///
/// In the order they were created.
#[utoipa::path(get, path = "/speakers", tag = "speakers", operation_id = "getSpeakers",
    responses((status = 200, body = Vec<Speaker>)))]
pub(crate) async fn get_speakers(
    State(daemon): State<Daemon>,
) -> Result<Json<Vec<Speaker>>, ApiError> {
    Ok(Json(daemon.speakers().list().await?))
}

/// One speaker
#[utoipa::path(get, path = "/speakers/{id}", tag = "speakers", operation_id = "getSpeaker",
    params(("id" = i64, Path, description = "The speaker's id")),
    responses((status = 200, body = Speaker)))]
pub(crate) async fn get_speaker(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<i64>,
) -> Result<Json<Speaker>, ApiError> {
    Ok(Json(daemon.speakers().get(id).await?))
}

/// Parameters of createSpeaker and updateSpeaker.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SpeakerForm {
    /// A Speaker object: `name` (required on create, unique ignoring case, at most 500
    /// characters), optional `email` (an address), `biography`, `credentials`, `image` (an
    /// Asset: `path, mimeType, fileAlias, description, creationDate`) and `links` (Links:
    /// `title, url` (http or https), `description`). `@class` is filled in when absent and
    /// must be the CaptureCast class when present. `id` and unknown keys are ignored. Text
    /// is trimmed; empty text counts as absent.
    #[schema(value_type = Object)]
    pub speaker: Map<String, Value>,
}

/// Create a speaker
///
/// A bad field is 422 `speakers.invalid` with `params.field` and `params.reason`; a name
/// another speaker has is 409 `speakers.duplicate_name`.
#[utoipa::path(post, path = "/speakers", tag = "speakers", operation_id = "createSpeaker",
    request_body(content = SpeakerForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = Speaker)))]
pub(crate) async fn create_speaker(
    State(daemon): State<Daemon>,
    Form(form): Form<SpeakerForm>,
) -> Result<(StatusCode, Json<Speaker>), ApiError> {
    let speaker = daemon.speakers().create(form.speaker).await?;
    Ok((StatusCode::CREATED, Json(speaker)))
}

/// Update a speaker
///
/// Changes the fields `speaker` names (`null` clears an optional field); the others keep
/// their values. Validated like createSpeaker. Media packages and scheduled events keep
/// the speaker as it was when they took it.
#[utoipa::path(post, path = "/speakers/{id}", tag = "speakers", operation_id = "updateSpeaker",
    params(("id" = i64, Path, description = "The speaker's id")),
    request_body(content = SpeakerForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Speaker)))]
pub(crate) async fn update_speaker(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<i64>,
    Form(form): Form<SpeakerForm>,
) -> Result<Json<Speaker>, ApiError> {
    Ok(Json(daemon.speakers().update(id, form.speaker).await?))
}

/// Delete a speaker
///
/// Media packages and scheduled events that name the speaker keep their copy of it.
#[utoipa::path(delete, path = "/speakers/{id}", tag = "speakers", operation_id = "deleteSpeaker",
    params(("id" = i64, Path, description = "The speaker's id")),
    responses((status = 204)))]
pub(crate) async fn delete_speaker(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<i64>,
) -> Result<StatusCode, ApiError> {
    daemon.speakers().delete(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
