//! The `maintenance` group's backup, restore and audit routes.

use std::convert::Infallible;
use std::path::Path;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt as _;
use utoipa::{IntoParams, ToSchema};

use crate::api::error::{ApiError, ErrorCode};
use crate::api::params::Query;
use crate::audit::{AuditEntry, AuditFilter};
use crate::backup::Manifest;
use crate::daemon::Daemon;

/// The largest archive a restore accepts. The database holds no media, so even a unit
/// with years of packages and a full audit trail stays far below this.
const RESTORE_LIMIT: u64 = 1024 * 1024 * 1024;

/// Back up the unit's database
///
/// A tar archive (`application/x-tar`, offered as a download) of `manifest.json` (format
/// `castd-backup`, `castdVersion`, `schemaVersion`, `created`, `unitName`) and `castd.db`, a
/// consistent snapshot of the SQLite database taken while castd keeps running: users (with
/// their password hashes), settings, templates, plugin and publisher configurations
/// (including their secrets), the schedule, speakers, media package records and the audit
/// trail. Media files are not included. Keep the archive as safe as the unit itself. The
/// archive is streamed from a snapshot file in the data directory (which needs free space
/// for one copy of the database) with its `Content-Length`; memory use does not grow with
/// the database.
#[utoipa::path(get, path = "/maintenance/backup", tag = "maintenance", operation_id = "backup",
    responses((status = 200, description = "the archive", content_type = "application/x-tar",
        headers(("Content-Disposition" = String, description = "attachment; filename=\"castd-backup-<unit>-<UTC time>.tar\"")))))]
pub(crate) async fn backup(State(daemon): State<Daemon>) -> Result<Response, ApiError> {
    let archive = daemon.backup().await?;
    let created = chrono::DateTime::from_timestamp_millis(archive.manifest.created)
        .unwrap_or_default()
        .format("%Y%m%dT%H%M%SZ");
    let unit: String = archive
        .manifest
        .unit_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!("attachment; filename=\"castd-backup-{unit}-{created}.tar\"");
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).map_err(ApiError::internal)?,
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(archive.size));
    // Streamed from the snapshot on disk as the client reads; a read failure midway ends
    // the connection, so the client sees fewer bytes than Content-Length promised.
    Ok((headers, Body::from_stream(archive.body)).into_response())
}

/// Answer of restore.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Restoring {
    /// The manifest of the archive being restored.
    pub manifest: Manifest,
    /// Always true: castd restarts to open the restored database.
    pub restarting: bool,
}

/// Restore a backup
///
/// Takes an archive made by `backup`, as the raw body (`application/octet-stream` or
/// `application/x-tar`) or as the `archive` field of a `multipart/form-data` upload; up to
/// 1 GiB. The archive is checked completely first: its manifest, that `castd.db` is a
/// SQLite database passing `PRAGMA integrity_check`, that its schema version is not newer
/// than this castd's (422 `backup.newer_schema`) and that castd's tables are there (422
/// `backup.invalid` for anything else, including members that are not regular files:
/// sparse files, links, devices, pax or GNU extension headers). `castd.db` is unpacked only
/// up to 1 GiB and while the data directory keeps 256 MiB free (422 `backup.too_large`).
/// A refused archive changes nothing. While a capture
/// runs the restore is refused (409 `backup.capture_running`). Then the database is staged
/// next to the live one, the answer is 202, and castd restarts (as `restart` does); at the
/// start the restored database replaces the live one, which is kept as
/// `castd.db.before-restore`. A database of an older schema is migrated on that start. The
/// audit trail is not rolled back: its current entries are carried into the restored
/// database.
#[utoipa::path(post, path = "/maintenance/restore", tag = "maintenance", operation_id = "restore",
    request_body(description = "the archive", content(
        (Vec<u8> = "application/octet-stream"),
        (Vec<u8> = "multipart/form-data"))),
    responses((status = 202, body = Restoring)))]
#[expect(clippy::expect_used, reason = "invariant: the answer serialises")]
pub(crate) async fn restore(
    State(daemon): State<Daemon>,
    request: Request,
) -> Result<Response, ApiError> {
    let upload = daemon.new_upload();
    receive(request, upload.path()).await?;
    // The restart waits until the answer has been handed to the connection.
    let (sent, answered) = tokio::sync::oneshot::channel::<()>();
    let restoring = daemon
        .restore(upload, async move {
            let _ = answered.await;
        })
        .await?;
    let body = serde_json::to_vec(&Restoring {
        manifest: restoring.manifest,
        restarting: true,
    })
    .expect("the answer serialises");
    let signal = SignalOnDrop(Some(sent));
    let stream = futures_util::stream::iter([Ok::<_, Infallible>(bytes::Bytes::from(body))]).map(
        move |chunk| {
            let _held_until_the_body_is_done = &signal;
            chunk
        },
    );
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = StatusCode::ACCEPTED;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// Fires when dropped, i.e. once the answer's body is written (or the connection gone).
struct SignalOnDrop(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for SignalOnDrop {
    fn drop(&mut self) {
        if let Some(sent) = self.0.take() {
            let _ = sent.send(());
        }
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::BodyTooLarge,
        format!("the archive exceeds {RESTORE_LIMIT} bytes"),
    )
    .with("limit", RESTORE_LIMIT)
}

/// Streams the archive of a restore request to `path`: the raw body, or the `archive`
/// field of a multipart upload.
async fn receive(request: Request, path: &Path) -> Result<(), ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > RESTORE_LIMIT) {
        return Err(too_large());
    }
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(ApiError::internal)?;
    let mut written: u64 = 0;
    let mut write = async |chunk: &[u8]| -> Result<(), ApiError> {
        written += chunk.len() as u64;
        if written > RESTORE_LIMIT {
            return Err(too_large());
        }
        file.write_all(chunk).await.map_err(ApiError::internal)
    };
    let body = request.into_body().into_data_stream();
    let unreadable = |e: &dyn std::fmt::Display| {
        ApiError::new(
            ErrorCode::BackupInvalid,
            format!("cannot read the uploaded archive: {e}"),
        )
    };
    if content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        let boundary = multer::parse_boundary(&content_type).map_err(|e| unreadable(&e))?;
        let mut form = multer::Multipart::new(body, boundary);
        let mut found = false;
        while let Some(mut field) = form.next_field().await.map_err(|e| unreadable(&e))? {
            if field.name() != Some("archive") {
                continue;
            }
            while let Some(chunk) = field.chunk().await.map_err(|e| unreadable(&e))? {
                write(&chunk).await?;
            }
            found = true;
            break;
        }
        if !found {
            return Err(ApiError::new(
                ErrorCode::MissingParam,
                "the multipart upload has no archive field",
            )
            .with("param", "archive"));
        }
    } else {
        let mut body = body;
        while let Some(chunk) = body.next().await {
            write(&chunk.map_err(|e| unreadable(&e))?).await?;
        }
    }
    file.sync_all().await.map_err(ApiError::internal)?;
    Ok(())
}

/// Paging and filters of audit.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// At most this many entries (default 100, at most 1000).
    pub limit: Option<i64>,
    /// Entries to skip, counted from the newest.
    pub offset: Option<i64>,
    /// Only entries at or after this time (ms since the epoch).
    pub since: Option<i64>,
    /// Only entries of this user name (exact).
    pub user: Option<String>,
}

/// Who did what when
///
/// One entry per state-changing call (every POST, PUT, PATCH and DELETE, plus the GETs
/// `/devices/redetect` and `/maintenance/backup`), refused ones included: time, user
/// (`null` without valid credentials), client address, method, the route pattern and the
/// concrete path, status, the error `code` of an error answer, and the duration. Newest
/// first; the total matching is in `X-Total-Count`. Paths are cut to 256 bytes and other
/// text to 64. Calls without valid credentials (or matching no route) beyond 60 a minute
/// are not listed one by one: one entry per client address and status counts them
/// (`count` > 1, `path` `*`; `address` `*` beyond the 16th address of a minute). The
/// newest 100 000 entries are kept, at most 10 000 of them without a user, and at most
/// 32 MiB of text. Entries are written in the background: under extreme load some may be
/// dropped (and the loss logged) rather than slow requests down.
#[utoipa::path(get, path = "/maintenance/audit", tag = "maintenance", operation_id = "audit",
    params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>, headers(("X-Total-Count" = i64)))))]
pub(crate) async fn audit(
    State(daemon): State<Daemon>,
    Query(q): Query<AuditQuery>,
) -> Result<(HeaderMap, Json<Vec<AuditEntry>>), ApiError> {
    let (entries, total) = daemon
        .audit()
        .list(AuditFilter {
            limit: q.limit.unwrap_or(100).clamp(1, 1000),
            offset: q.offset.unwrap_or(0).max(0),
            since: q.since,
            user: q.user,
        })
        .await?;
    let mut headers = HeaderMap::new();
    headers.insert("x-total-count", HeaderValue::from(total));
    Ok((headers, Json(entries)))
}
