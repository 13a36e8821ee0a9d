//! Media packages of the `capture` group.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::api::error::ApiError;
use crate::api::files;
use crate::api::params::{Form, PathParam, Query};
use crate::daemon::Daemon;
use crate::model::{MediaPackage, Output, PackageState};
use crate::packages::{self, PackageError};

/// Paging and filters of getMediaPackages.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// At most this many (default 50, at most 500).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    /// Only packages created at or after this time (ms since the epoch).
    pub since: Option<i64>,
    /// Only packages with this tag.
    pub tag: Option<String>,
}

/// Media packages, newest first
///
/// The total number matching is in the `X-Total-Count` header.
#[utoipa::path(get, path = "/capture/mediaPackages", tag = "capture", operation_id = "getMediaPackages",
    params(ListQuery),
    responses((status = 200, body = Vec<MediaPackage>, headers(("X-Total-Count" = i64)))))]
pub async fn list(
    State(daemon): State<Daemon>,
    Query(q): Query<ListQuery>,
) -> Result<(HeaderMap, Json<Vec<MediaPackage>>), ApiError> {
    let query = packages::Query {
        limit: q.limit.unwrap_or(50).clamp(1, 500),
        offset: q.offset.unwrap_or(0).max(0),
        since: q.since,
        tag: q.tag,
    };
    let (list, total) = daemon.packages.list(query).await?;
    let mut headers = HeaderMap::new();
    headers.insert("x-total-count", HeaderValue::from(total));
    Ok((
        headers,
        Json(list.into_iter().map(packages::shown).collect()),
    ))
}

/// One media package
#[utoipa::path(get, path = "/capture/mediaPackages/{id}", tag = "capture", operation_id = "getMediaPackage",
    params(("id" = String, Path)),
    responses((status = 200, body = MediaPackage)))]
pub async fn get(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
) -> Result<Json<MediaPackage>, ApiError> {
    Ok(Json(packages::shown(daemon.packages.get(&id).await?)))
}

/// Fields of a package that can be changed.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PackageChanges {
    pub title: Option<String>,
    pub tags: Option<Vec<String>>,
    #[schema(value_type = Object)]
    pub metadata: Option<Map<String, Value>>,
    /// A speaker id, name or Speaker object; `0` or `null` removes the speaker.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Value)]
    pub speaker: Option<Value>,
    /// As answered with the same `speaker`: kept as it is (see Event).
    #[serde(default, rename = "speakerInfo", deserialize_with = "present")]
    #[schema(value_type = Object)]
    pub speaker_info: Option<Value>,
}

/// A field that was sent, `null` included (serde reads a `null` Option as absent).
fn present<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(de).map(Some)
}

/// Parameters of updateMediaPackage.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateForm {
    pub media_package: PackageChanges,
}

fn settled(package: &MediaPackage) -> Result<(), ApiError> {
    if matches!(
        package.state,
        PackageState::Capturing | PackageState::Processing
    ) {
        return Err(PackageError::Busy {
            id: package.id.clone(),
            reason: format!("{:?}", package.state).to_lowercase(),
        }
        .into());
    }
    Ok(())
}

/// Change a package's title, tags, metadata or speaker
///
/// Refused while the package is being recorded or processed.
#[utoipa::path(post, path = "/capture/mediaPackages/{id}", tag = "capture", operation_id = "updateMediaPackage",
    params(("id" = String, Path)),
    request_body(content = UpdateForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = MediaPackage)))]
pub async fn update(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
    Form(form): Form<UpdateForm>,
) -> Result<Json<MediaPackage>, ApiError> {
    let mut package = daemon.packages.get(&id).await?;
    settled(&package)?;
    let changes = form.media_package;
    if let Some(title) = changes.title {
        if title.trim().is_empty()
            || title.chars().count() > 256
            || title.chars().any(char::is_control)
        {
            return Err(PackageError::Invalid(
                "title must be 1 to 256 characters without control characters".into(),
            )
            .into());
        }
        package.title = title;
    }
    if let Some(tags) = changes.tags {
        if tags.len() > 50 || tags.iter().any(|t| t.is_empty() || t.chars().count() > 64) {
            return Err(
                PackageError::Invalid("at most 50 tags of 1 to 64 characters".into()).into(),
            );
        }
        package.tags = tags;
    }
    if let Some(metadata) = changes.metadata {
        if serde_json::to_string(&metadata).map_or(0, |s| s.len()) > 64 * 1024 {
            return Err(
                PackageError::Invalid("metadata must be at most 64 KiB of JSON".into()).into(),
            );
        }
        package.metadata = metadata;
    }
    if changes.speaker.is_some() || changes.speaker_info.is_some() {
        (package.speaker, package.speaker_info) = daemon
            .speakers
            .settle(changes.speaker.as_ref(), changes.speaker_info.as_ref())
            .await?;
    }
    daemon.packages.save(&package).await?;
    Ok(Json(packages::shown(package)))
}

/// Parameters of attachOutput.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AttachForm {
    /// `entry` (name), `type` (MIME) and `file` (a file already inside the package directory).
    pub output: Output,
}

/// Attach a file of the package directory as an output
#[utoipa::path(post, path = "/capture/mediaPackages/{id}/outputs", tag = "capture", operation_id = "attachOutput",
    params(("id" = String, Path)),
    request_body(content = AttachForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = MediaPackage)))]
pub async fn attach(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
    Form(form): Form<AttachForm>,
) -> Result<Json<MediaPackage>, ApiError> {
    let mut package = daemon.packages.get(&id).await?;
    settled(&package)?;
    let mut output = form.output;
    let entry_ok = !output.entry.is_empty()
        && output.entry.len() <= 64
        && output
            .entry
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !entry_ok {
        return Err(
            PackageError::Invalid("entry must be 1-64 of letters, digits, - _ .".into()).into(),
        );
    }
    if output.mime.parse::<mime::Mime>().is_err() {
        return Err(
            PackageError::Invalid(format!("type {:?} is not a MIME type", output.mime)).into(),
        );
    }
    let path = packages::safe_join(&daemon.packages.dir(&package.id), &output.file)?;
    let facts = tokio::task::spawn_blocking(move || crate::media::finalize::facts(&path))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    output.size = Some(facts.size);
    output.md5 = Some(facts.md5);
    output.duration = facts.duration_ms;
    package.outputs.insert(output.entry.clone(), output);
    daemon.packages.save(&package).await?;
    Ok(Json(packages::shown(package)))
}

/// Download an output
///
/// HTTP Range requests are answered with 206 (players seek, downloads resume).
#[utoipa::path(get, path = "/capture/mediaPackages/{id}/outputs/{entry}", tag = "capture", operation_id = "downloadOutput",
    params(("id" = String, Path), ("entry" = String, Path)),
    responses((status = 200, description = "The file"), (status = 206, description = "Part of the file")))]
pub async fn download(
    State(daemon): State<Daemon>,
    PathParam((id, entry)): PathParam<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let package = daemon.packages.get(&id).await?;
    let path = daemon.packages.output_path(&package, &entry)?;
    let mime = package.outputs.get(&entry).map(|o| o.mime.clone());
    files::serve(&path, request, mime.as_deref()).await
}

/// Delete a media package and its files
///
/// Refused (409) while it is being recorded or processed.
#[utoipa::path(delete, path = "/capture/mediaPackages/{id}", tag = "capture", operation_id = "deleteMediaPackage",
    params(("id" = String, Path)),
    responses((status = 204)))]
pub async fn delete(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    daemon.packages.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
