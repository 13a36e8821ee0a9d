//! Media packages of the `capture` group.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::api::error::ApiError;
use crate::api::files;
use crate::api::params::{Form, PathParam, Query};
use crate::daemon::Daemon;
use crate::model::{MediaPackage, Output};
use crate::packages::{self, PackageChanges};

/// Paging and filters of getMediaPackages.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
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
pub(crate) async fn get_media_packages(
    State(daemon): State<Daemon>,
    Query(q): Query<ListQuery>,
) -> Result<(HeaderMap, Json<Vec<MediaPackage>>), ApiError> {
    let query = packages::Query {
        limit: q.limit.unwrap_or(50).clamp(1, 500),
        offset: q.offset.unwrap_or(0).max(0),
        since: q.since,
        tag: q.tag,
    };
    let (list, total) = daemon.packages().list(query).await?;
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
pub(crate) async fn get_media_package(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
) -> Result<Json<MediaPackage>, ApiError> {
    Ok(Json(packages::shown(daemon.packages().get(&id).await?)))
}

/// Parameters of updateMediaPackage.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateForm {
    pub media_package: PackageChanges,
}

/// Change a package's title, tags, metadata or speaker
///
/// Refused while the package is being recorded or processed.
#[utoipa::path(post, path = "/capture/mediaPackages/{id}", tag = "capture", operation_id = "updateMediaPackage",
    params(("id" = String, Path)),
    request_body(content = UpdateForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = MediaPackage)))]
pub(crate) async fn update_media_package(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
    Form(form): Form<UpdateForm>,
) -> Result<Json<MediaPackage>, ApiError> {
    let package = daemon.update_package(&id, form.media_package).await?;
    Ok(Json(packages::shown(package)))
}

/// Parameters of attachOutput.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct AttachForm {
    /// `entry` (name), `type` (MIME) and `file` (a file already inside the package directory).
    pub output: Output,
}

/// Attach a file of the package directory as an output
#[utoipa::path(post, path = "/capture/mediaPackages/{id}/outputs", tag = "capture", operation_id = "attachOutput",
    params(("id" = String, Path)),
    request_body(content = AttachForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = MediaPackage)))]
pub(crate) async fn attach_output(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
    Form(form): Form<AttachForm>,
) -> Result<Json<MediaPackage>, ApiError> {
    let package = daemon.attach_output(&id, form.output).await?;
    Ok(Json(packages::shown(package)))
}

/// Download an output
///
/// HTTP Range requests are answered with 206 (players seek, downloads resume).
#[utoipa::path(get, path = "/capture/mediaPackages/{id}/outputs/{entry}", tag = "capture", operation_id = "downloadOutput",
    params(("id" = String, Path), ("entry" = String, Path)),
    responses((status = 200, description = "The file"), (status = 206, description = "Part of the file")))]
pub(crate) async fn download_output(
    State(daemon): State<Daemon>,
    PathParam((id, entry)): PathParam<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let package = daemon.packages().get(&id).await?;
    let path = daemon.packages().output_path(&package, &entry)?;
    let mime = package.outputs.get(&entry).map(|o| o.mime.clone());
    files::serve(&path, request, mime.as_deref()).await
}

/// Delete a media package and its files
///
/// Refused (409) while it is being recorded or processed.
#[utoipa::path(delete, path = "/capture/mediaPackages/{id}", tag = "capture", operation_id = "deleteMediaPackage",
    params(("id" = String, Path)),
    responses((status = 204)))]
pub(crate) async fn delete_media_package(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    daemon.packages().delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
