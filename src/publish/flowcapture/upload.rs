//! Sending one file to Flow Capture as an S3 multipart upload: Flow Capture opens the
//! upload, hands out a presigned URL per part, and turns the completed upload into an
//! asset. Parts go three at a time, each with its Content-MD5, each confirmed part saved
//! in the checkpoint so a restart sends only what is missing.
//!
//! It owns the part arithmetic, the part retries and the upload's three API calls. It
//! never creates a second upload or asset for a file the checkpoint already has one for,
//! and it only reads the package's files.

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt as _;
use md5::{Digest as _, Md5};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{Api, id_text};
use super::metadata::display_name;
use super::parts::{part_count, part_range};
use super::state::{State, Upload};
use super::{ID, not_cancelled};
use crate::publish::job::{Failure, Job, PackageFile};

pub(super) const MAX_PARTS: u64 = 10_000;
/// Parts in flight at once per file.
const PARALLEL_PARTS: usize = 3;
/// Tries per part before the job gives up and the queue's own backoff takes over; a single
/// 5xx from object storage is common and cheap to retry with a fresh URL.
const PART_ATTEMPTS: u32 = 3;
/// A part may legitimately take long under the upload bandwidth limit; this only guards
/// against a connection that hangs for good.
const PART_TIMEOUT: Duration = Duration::from_secs(30 * 60);

#[derive(Deserialize)]
struct Completed {
    asset_id: Value,
}

#[derive(Deserialize)]
struct PartUrl {
    presigned_url: String,
}

/// Sends one file up to its asset id, skipping the steps and parts a previous attempt
/// confirmed.
pub(super) async fn upload_file(
    job: &Job,
    api: &Api<'_>,
    state: &mut State,
    index: usize,
    file: &PackageFile,
) -> Result<(), Failure> {
    if state.files[index].asset_id.is_some() {
        return Ok(());
    }
    let upload = open_upload(job, api, state, index, file).await?;
    send_parts(job, api, state, index, file, &upload).await?;
    not_cancelled(job)?;
    let asset_id = complete_upload(api, state, index, file, &upload).await?;
    state.files[index].asset_id = Some(asset_id);
    job.save_checkpoint(&*state).await
}

/// The file's upload: the one the checkpoint holds, or a new one (saved before any part
/// goes, so its parts are never orphaned by a restart).
async fn open_upload(
    job: &Job,
    api: &Api<'_>,
    state: &mut State,
    index: usize,
    file: &PackageFile,
) -> Result<Upload, Failure> {
    if let Some(upload) = state.files[index].upload.clone() {
        return Ok(upload);
    }
    job.proceed().await?;
    let upload: Upload = api
        .call(
            "upload/asset/init",
            &json!({"project_id": api.config.project_id, "filename": display_name(file)}),
        )
        .await?;
    state.files[index].upload = Some(upload.clone());
    state.files[index].etags.clear();
    job.save_checkpoint(&*state).await?;
    Ok(upload)
}

/// Sends the parts not yet confirmed, a few at a time, saving each ETag as it comes.
async fn send_parts(
    job: &Job,
    api: &Api<'_>,
    state: &mut State,
    index: usize,
    file: &PackageFile,
    upload: &Upload,
) -> Result<(), Failure> {
    let pending: Vec<u32> = (1..=part_count(file.size) as u32)
        .filter(|part| !state.files[index].etags.contains_key(part))
        .collect();
    let mut parts = futures_util::stream::iter(pending)
        .map(|part| put_part(job, api, upload, file, part))
        .buffer_unordered(PARALLEL_PARTS);
    while let Some(done) = parts.next().await {
        let (part, etag, len) = done?;
        state.files[index].etags.insert(part, etag);
        job.save_checkpoint(&*state).await?;
        job.add_done(len);
    }
    Ok(())
}

/// Completes the upload with every part's ETag; the asset id Flow Capture created.
async fn complete_upload(
    api: &Api<'_>,
    state: &State,
    index: usize,
    file: &PackageFile,
    upload: &Upload,
) -> Result<String, Failure> {
    let filename = display_name(file);
    let etags: Vec<&String> = state.files[index].etags.values().collect();
    let completed: Completed = api
        .call(
            "upload/asset/complete",
            &api.with_batch(json!({
                "upload_id": upload.upload_id,
                "key": upload.key,
                "etags": etags,
                "filename": filename,
                "project_id": api.config.project_id,
            })),
        )
        .await?;
    id_text(&completed.asset_id).ok_or_else(|| {
        Failure::rejected(format!(
            "Flow Capture completed {filename} without an asset id"
        ))
    })
}

/// What one `PUT` of a part came to, when it did not fail for good.
enum PartPut {
    /// Stored, with the ETag the storage answered.
    Stored(String),
    /// Failed in a way a fresh URL and another try may mend.
    Retry(Failure),
}

/// Uploads one part: a fresh presigned URL right before each try (they expire after five
/// minutes), the body's MD5 both in the URL request and in the PUT. Returns the part
/// number, its ETag and its length.
async fn put_part(
    job: &Job,
    api: &Api<'_>,
    upload: &Upload,
    file: &PackageFile,
    part: u32,
) -> Result<(u32, String, u64), Failure> {
    let (offset, len) = part_range(file.size, part);
    let data = job.read_range(file, offset, len).await?;
    if data.len() as u64 != len {
        return Err(Failure::io(format!(
            "{} is shorter than the package says",
            file.path.display()
        )));
    }
    let content_md5 = md5_base64(data.clone()).await?;
    let what = format!("part {part} of {}", file.name);
    let mut attempt = 1;
    loop {
        job.proceed().await?;
        let url = part_url(api, upload, part, &content_md5).await?;
        let failure = match put_once(job, url, &content_md5, &data, &what).await? {
            PartPut::Stored(etag) => return Ok((part, etag, len)),
            PartPut::Retry(failure) => failure,
        };
        if attempt >= PART_ATTEMPTS {
            return Err(failure);
        }
        log::warn!(
            "{ID}: {} (try {attempt} of {PART_ATTEMPTS}); retrying",
            failure.message
        );
        tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
        attempt += 1;
    }
}

/// Asks Flow Capture for a presigned URL for one part, which must be http(s).
async fn part_url(
    api: &Api<'_>,
    upload: &Upload,
    part: u32,
    content_md5: &str,
) -> Result<url::Url, Failure> {
    let presigned: PartUrl = api
        .call(
            "upload/asset/part",
            &json!({
                "upload_id": upload.upload_id,
                "key": upload.key,
                "part_number": part,
                "content_md5": content_md5,
            }),
        )
        .await?;
    url::Url::parse(&presigned.presigned_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| Failure::rejected("Flow Capture gave a part URL that is not http(s)"))
}

/// One `PUT` of a part to its presigned URL. A refusal other than a 5xx or 429, an answer
/// without an ETag, or a cancelled job fail for good; the rest is worth another try.
async fn put_once(
    job: &Job,
    url: url::Url,
    content_md5: &str,
    data: &Bytes,
    what: &str,
) -> Result<PartPut, Failure> {
    // Object storage wants the length up front; a paced body would otherwise go chunked.
    let sent = job
        .http
        .put(url)
        .header("Content-MD5", content_md5)
        .header(reqwest::header::CONTENT_LENGTH, data.len())
        .body(job.body(data.clone()))
        .timeout(PART_TIMEOUT)
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(|etag| PartPut::Stored(etag.to_string()))
            .ok_or_else(|| Failure::rejected(format!("{what}: no ETag in the answer"))),
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            let body: String = body.chars().take(300).collect();
            let failure = Failure::rejected(format!("{what}: HTTP {status}: {}", body.trim()));
            if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                Ok(PartPut::Retry(failure))
            } else {
                Err(failure)
            }
        }
        Err(_) if job.is_cancelled() => Err(Failure::cancelled()),
        Err(e) => Ok(PartPut::Retry(Failure::from_http(what, &e))),
    }
}

/// Base64 MD5, off the async threads (a part is megabytes).
async fn md5_base64(data: Bytes) -> Result<String, Failure> {
    tokio::task::spawn_blocking(move || {
        base64::engine::general_purpose::STANDARD.encode(Md5::digest(&data))
    })
    .await
    .map_err(|e| Failure::io(e.to_string()))
}
