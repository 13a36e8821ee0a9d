//! The Flow Capture publisher: one Flow Capture asset per package output (the main recording
//! first), sent as an S3 multipart upload through presigned part URLs, then described with
//! the package's title, tags and speaker, with markers as timeline comments.
//!
//! It owns the Flow Capture protocol and its resume state; it never touches the package's
//! files other than reading them, and it never creates a second asset for a file whose
//! asset a previous attempt already created.
//!
//! The API document fixes the endpoint paths and their parameter and response names. It
//! leaves the transport open; the choices made here are: every API call is a `POST` with a
//! JSON body below `baseUrl`, `/authenticate/api` takes `email` and `api_key` and answers
//! `{"token": ...}`, and the token travels as `Authorization: Bearer <token>`. Part URLs are
//! presigned, so a part `PUT` carries no token of ours.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt as _;
use md5::{Digest as _, Md5};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::publish::job::{Delivered, Failure, Job, PackageFile};

pub const ID: &str = "flowcapture";
pub const NAME: &str = "Autodesk Flow Capture";
/// Config keys that are secrets (write-only, masked on read by the queue, never logged).
pub const SECRETS: &[&str] = &["apiKey"];
/// Plugin services (name, description) offered through POST /plugins/flowcapture/services/<name>.
pub const SERVICES: &[(&str, &str)] = &[
    (
        "listGroups",
        "Productions (API \"groups\") visible to the configured user",
    ),
    (
        "listProjects",
        "Folders (API \"projects\") visible to the configured user; `groupID` limits them to one production",
    ),
];

/// Parts of 8 MiB: above the 5 MiB floor of S3 multipart uploads, small enough that three
/// in flight stay modest in memory, and 10,000 parts still allow files of 80 GiB.
const PART_SIZE: u64 = 8 * 1024 * 1024;
const MAX_PARTS: u64 = 10_000;
/// Parts in flight at once per file.
const PARALLEL_PARTS: usize = 3;
/// Tries per part before the job gives up and the queue's own backoff takes over; a single
/// 5xx from object storage is common and cheap to retry with a fresh URL.
const PART_ATTEMPTS: u32 = 3;
const API_TIMEOUT: Duration = Duration::from_secs(60);
/// A part may legitimately take long under the upload bandwidth limit; this only guards
/// against a connection that hangs for good.
const PART_TIMEOUT: Duration = Duration::from_secs(30 * 60);

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    /// API root, e.g. `https://api.example.com/v2/`; endpoint paths are appended to it.
    pub base_url: String,
    pub email: String,
    pub api_key: String,
    /// The Flow Capture folder assets go to (API `project_id`).
    #[serde(rename = "projectID")]
    pub project_id: String,
    /// Batch inside the folder; without one assets land in "Untitled Batch".
    #[serde(default)]
    pub batch_name: Option<String>,
}

/// Hand-written so the API key never reaches a log line.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("email", &self.email)
            .field("api_key", &"<secret>")
            .field("project_id", &self.project_id)
            .field("batch_name", &self.batch_name)
            .finish()
    }
}

/// Validates a JSON config object; the Err text names the field (it becomes a 422).
pub fn parse(config: &Value) -> Result<Config, String> {
    let object = config
        .as_object()
        .ok_or("the flowcapture configuration must be a JSON object")?;
    let base_url = required_text(object, "baseUrl")?;
    let parsed = url::Url::parse(&base_url).map_err(|e| format!("baseUrl is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err("baseUrl must be an http:// or https:// URL with a host".into());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err("baseUrl must not carry a query or a fragment".into());
    }
    let email = required_text(object, "email")?;
    if !email.contains('@') || email.chars().any(char::is_whitespace) {
        return Err("email must be the API user's e-mail address".into());
    }
    let api_key = required_text(object, "apiKey")?;
    let project_id = required_text(object, "projectID")?;
    let batch_name = optional_text(object, "batchName")?;
    if batch_name.as_ref().is_some_and(|b| b.chars().count() > 256) {
        return Err("batchName must be at most 256 characters".into());
    }
    Ok(Config {
        base_url,
        email,
        api_key,
        project_id,
        batch_name,
    })
}

/// A non-empty string (ids may also be given as numbers).
fn required_text(object: &Map<String, Value>, key: &str) -> Result<String, String> {
    optional_text(object, key)?.ok_or_else(|| format!("{key} is required"))
}

fn optional_text(object: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(Value::Number(n)) if key.ends_with("ID") => Ok(Some(n.to_string())),
        Some(_) => Err(format!("{key} must be a string")),
    }
}

/// Checks credentials and reachability WITHOUT uploading media. Ok(message) on success.
pub async fn test(http: &reqwest::Client, config: &Config) -> Result<String, Failure> {
    let api = Api::new(http, config)?;
    api.authenticate().await?;
    let projects: Value = api.call("get/projects", &json!({})).await?;
    let project = projects
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| id_text(&p["id"]).as_deref() == Some(config.project_id.as_str()));
    match project {
        Some(project) => Ok(format!(
            "signed in as {}; folder {:?} is visible",
            config.email,
            project["name"].as_str().unwrap_or(&config.project_id)
        )),
        None => Err(Failure::invalid_config(format!(
            "folder (project) {} is not visible to {}",
            config.project_id, config.email
        ))),
    }
}

/// Runs a plugin service (unknown name → Err(Failure::invalid_config("no service ..."))).
pub async fn service(
    http: &reqwest::Client,
    config: &Config,
    name: &str,
    args: &Value,
) -> Result<Value, Failure> {
    match name {
        "listGroups" => Api::new(http, config)?.call("get/groups", &json!({})).await,
        "listProjects" => {
            let body = match args.get("groupID") {
                None | Some(Value::Null) => json!({}),
                Some(group @ (Value::String(_) | Value::Number(_))) => json!({"group_id": group}),
                Some(_) => {
                    return Err(Failure::invalid_config(
                        "groupID must be a string or a number",
                    ));
                }
            };
            Api::new(http, config)?.call("get/projects", &body).await
        }
        other => Err(Failure::invalid_config(format!(
            "no service {other:?} in publisher {ID}"
        ))),
    }
}

/// What survives a restart: per file the S3 upload and its confirmed parts, then the asset;
/// then whether ingest was triggered, which assets are described and how many markers
/// became comments. Saved after every confirmed step.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    files: Vec<FileState>,
    /// `/complete/upload` accepted every key.
    ingested: bool,
    /// Markers already created as comments on the main asset, in package order.
    comments: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileState {
    /// The package's name of the file; identifies it across attempts.
    name: String,
    size: u64,
    upload: Option<Upload>,
    /// Confirmed parts: part number → ETag as the PUT answered it.
    etags: BTreeMap<u32, String>,
    asset_id: Option<String>,
    /// `/update/asset` took the metadata.
    described: bool,
}

impl FileState {
    fn new(file: &PackageFile) -> FileState {
        FileState {
            name: file.name.clone(),
            size: file.size,
            upload: None,
            etags: BTreeMap::new(),
            asset_id: None,
            described: false,
        }
    }

    /// Bytes already on the target.
    fn confirmed(&self) -> u64 {
        if self.asset_id.is_some() {
            return self.size;
        }
        self.etags
            .keys()
            .map(|&part| part_range(self.size, part).1)
            .sum()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Upload {
    upload_id: String,
    key: String,
}

/// Publishes one media package. Resumable: see Job::checkpoint/save_checkpoint.
pub async fn publish(job: &Job, config: &Config) -> Result<Delivered, Failure> {
    // The queue lists the main recording first; its asset is the one comments go to.
    let files: Vec<&PackageFile> = job.files.iter().collect();
    // Neither gets better by trying again.
    if files.is_empty() {
        return Err(Failure {
            permanent: true,
            ..Failure::rejected("the package has no output to publish")
        });
    }
    if let Some(big) = files.iter().find(|f| part_count(f.size) > MAX_PARTS) {
        return Err(Failure {
            permanent: true,
            ..Failure::rejected(format!(
                "{} is larger than a Flow Capture upload can be",
                big.name
            ))
        });
    }
    let mut state = resume(job.checkpoint::<State>().await.unwrap_or_default(), &files);
    job.set_total(files.iter().map(|f| f.size).sum());
    job.set_done(state.files.iter().map(FileState::confirmed).sum());

    let api = Api::new(&job.http, config)?;
    for (index, file) in files.iter().enumerate() {
        upload_file(job, &api, &mut state, index, file).await?;
    }

    if !state.ingested {
        not_cancelled(job)?;
        let keys: Vec<&str> = state
            .files
            .iter()
            .filter_map(|f| f.upload.as_ref().map(|u| u.key.as_str()))
            .collect();
        let answer: Value = api
            .call(
                "complete/upload",
                &with_batch(
                    json!({"project_id": config.project_id, "keys": keys}),
                    config,
                ),
            )
            .await?;
        if answer["ok"] != Value::Bool(true) {
            return Err(Failure::rejected(format!(
                "Flow Capture did not queue the upload for ingest: {answer}"
            )));
        }
        state.ingested = true;
        job.save_checkpoint(&state).await?;
    }

    for (index, file) in files.iter().enumerate() {
        if state.files[index].described {
            continue;
        }
        not_cancelled(job)?;
        let asset_id = asset_of(&state, index)?;
        let answer: Value = api
            .call(
                "update/asset",
                &asset_metadata(job, file, index == 0, &asset_id),
            )
            .await?;
        if answer["updated"] == Value::Bool(false) {
            return Err(Failure::rejected(format!(
                "Flow Capture did not take the metadata of asset {asset_id}"
            )));
        }
        state.files[index].described = true;
        job.save_checkpoint(&state).await?;
    }

    let main_asset = asset_of(&state, 0)?;
    while let Some(marker) = job.package.markers.get(state.comments) {
        not_cancelled(job)?;
        let mut description = marker.title.clone();
        if let Some(more) = marker.description.as_deref().filter(|d| !d.is_empty()) {
            description.push('\n');
            description.push_str(more);
        }
        let _comment: Value = api
            .call(
                "create/comment",
                &json!({
                    "asset_id": main_asset,
                    "description": description,
                    "is_reply": false,
                    "has_marker": true,
                    "marker_time": marker.time as f64 / 1000.0,
                }),
            )
            .await?;
        state.comments += 1;
        job.save_checkpoint(&state).await?;
    }

    Ok(Delivered {
        url: None,
        remote_id: Some(main_asset),
    })
}

/// The saved state lined up with today's files. A file that changed size since an upload
/// began starts over (its parts would not fit); a file with an asset keeps it whatever
/// happened, so it is never sent twice. A file new to the state (an output attached since)
/// needs ingest to be triggered again.
fn resume(saved: State, files: &[&PackageFile]) -> State {
    let mut old: BTreeMap<String, FileState> = saved
        .files
        .into_iter()
        .map(|f| (f.name.clone(), f))
        .collect();
    let mut all_known = true;
    let states = files
        .iter()
        .map(|file| match old.remove(&file.name) {
            Some(s) if s.asset_id.is_some() || s.size == file.size => s,
            _ => {
                all_known = false;
                FileState::new(file)
            }
        })
        .collect();
    State {
        files: states,
        ingested: saved.ingested && all_known,
        comments: saved.comments,
    }
}

/// Sends one file up to its asset id, skipping the steps and parts a previous attempt
/// confirmed.
async fn upload_file(
    job: &Job,
    api: &Api<'_>,
    state: &mut State,
    index: usize,
    file: &PackageFile,
) -> Result<(), Failure> {
    if state.files[index].asset_id.is_some() {
        return Ok(());
    }
    let filename = display_name(file);
    let upload = match state.files[index].upload.clone() {
        Some(upload) => upload,
        None => {
            job.proceed().await?;
            let upload: Upload = api
                .call(
                    "upload/asset/init",
                    &json!({"project_id": api.config.project_id, "filename": filename}),
                )
                .await?;
            state.files[index].upload = Some(upload.clone());
            state.files[index].etags.clear();
            job.save_checkpoint(&*state).await?;
            upload
        }
    };

    let pending: Vec<u32> = (1..=part_count(file.size) as u32)
        .filter(|part| !state.files[index].etags.contains_key(part))
        .collect();
    let mut parts = futures_util::stream::iter(pending)
        .map(|part| put_part(job, api, &upload, file, part))
        .buffer_unordered(PARALLEL_PARTS);
    while let Some(done) = parts.next().await {
        let (part, etag, len) = done?;
        state.files[index].etags.insert(part, etag);
        job.save_checkpoint(&*state).await?;
        job.add_done(len);
    }
    drop(parts);

    not_cancelled(job)?;
    let etags: Vec<&String> = state.files[index].etags.values().collect();
    let completed: Completed = api
        .call(
            "upload/asset/complete",
            &with_batch(
                json!({
                    "upload_id": upload.upload_id,
                    "key": upload.key,
                    "etags": etags,
                    "filename": filename,
                    "project_id": api.config.project_id,
                }),
                api.config,
            ),
        )
        .await?;
    let asset_id = id_text(&completed.asset_id).ok_or_else(|| {
        Failure::rejected(format!(
            "Flow Capture completed {filename} without an asset id"
        ))
    })?;
    state.files[index].asset_id = Some(asset_id);
    job.save_checkpoint(&*state).await
}

#[derive(Deserialize)]
struct Completed {
    asset_id: Value,
}

#[derive(Deserialize)]
struct PartUrl {
    presigned_url: String,
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
    let mut attempt = 1;
    loop {
        job.proceed().await?;
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
        let url = url::Url::parse(&presigned.presigned_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| Failure::rejected("Flow Capture gave a part URL that is not http(s)"))?;
        // Object storage wants the length up front; a paced body would otherwise go chunked.
        let sent = job
            .http
            .put(url)
            .header("Content-MD5", &content_md5)
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(job.body(data.clone()))
            .timeout(PART_TIMEOUT)
            .send()
            .await;
        let what = format!("part {part} of {}", file.name);
        let failure = match sent {
            Ok(response) if response.status().is_success() => {
                let etag = response
                    .headers()
                    .get(reqwest::header::ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
                    .ok_or_else(|| Failure::rejected(format!("{what}: no ETag in the answer")))?;
                return Ok((part, etag, len));
            }
            Ok(response) => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                let body: String = body.chars().take(300).collect();
                let failure = Failure::rejected(format!("{what}: HTTP {status}: {}", body.trim()));
                if !(status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS) {
                    return Err(failure);
                }
                failure
            }
            Err(_) if job.is_cancelled() => return Err(Failure::cancelled()),
            Err(e) => Failure::from_http(&what, &e),
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

/// Base64 MD5, off the async threads (a part is megabytes).
async fn md5_base64(data: Bytes) -> Result<String, Failure> {
    tokio::task::spawn_blocking(move || {
        base64::engine::general_purpose::STANDARD.encode(Md5::digest(&data))
    })
    .await
    .map_err(|e| Failure::io(e.to_string()))
}

fn part_count(size: u64) -> u64 {
    size.div_ceil(PART_SIZE).max(1)
}

/// Offset and length of part `part` (from 1) of a file of `size` bytes.
fn part_range(size: u64, part: u32) -> (u64, u64) {
    let offset = u64::from(part.saturating_sub(1)) * PART_SIZE;
    (offset, PART_SIZE.min(size.saturating_sub(offset)))
}

/// The name shown in Flow Capture: the file's own name without package folders.
fn display_name(file: &PackageFile) -> String {
    file.name
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or(&file.entry)
        .to_string()
}

fn asset_of(state: &State, index: usize) -> Result<String, Failure> {
    state.files[index]
        .asset_id
        .clone()
        .ok_or_else(|| Failure::rejected("an upload finished without an asset"))
}

/// `/update/asset` takes any key → value as metadata: the package's metadata, then title,
/// tags and speaker name on top (so a metadata key cannot hide them). Other outputs than
/// the main recording are titled with their entry name.
fn asset_metadata(job: &Job, file: &PackageFile, main: bool, asset_id: &str) -> Value {
    let package = &job.package;
    let mut body = package.metadata.clone();
    let title = if main {
        package.title.clone()
    } else {
        format!("{} ({})", package.title, file.entry)
    };
    body.insert("id".into(), json!(asset_id));
    body.insert("title".into(), json!(title));
    body.insert("tags".into(), json!(package.tags));
    if let Some(name) = package.speaker_info.as_ref().and_then(speaker_name) {
        body.insert("speaker".into(), json!(name));
    }
    Value::Object(body)
}

/// A package speaker is a name, or a speaker object with a `name`.
fn speaker_name(speaker: &Value) -> Option<String> {
    let name = match speaker {
        Value::String(s) => s.as_str(),
        Value::Object(o) => o.get("name")?.as_str()?,
        _ => return None,
    };
    Some(name.trim().to_string()).filter(|n| !n.is_empty())
}

fn with_batch(mut body: Value, config: &Config) -> Value {
    if let (Some(batch), Some(object)) = (&config.batch_name, body.as_object_mut()) {
        object.insert("batch_name".into(), json!(batch));
    }
    body
}

/// Flow Capture ids may come as numbers or strings; they are compared as text.
fn id_text(id: &Value) -> Option<String> {
    match id {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn not_cancelled(job: &Job) -> Result<(), Failure> {
    if job.is_cancelled() {
        Err(Failure::cancelled())
    } else {
        Ok(())
    }
}

/// The API below `baseUrl` with the session token; signs in on first use and once more
/// when the token is refused (it may have expired during a long upload).
struct Api<'a> {
    http: &'a reqwest::Client,
    config: &'a Config,
    base: url::Url,
    token: Mutex<Option<String>>,
}

#[derive(Deserialize)]
struct Token {
    token: String,
}

impl<'a> Api<'a> {
    fn new(http: &'a reqwest::Client, config: &'a Config) -> Result<Api<'a>, Failure> {
        let base = url::Url::parse(&config.base_url)
            .ok()
            .filter(|u| !u.cannot_be_a_base())
            .ok_or_else(|| Failure::invalid_config("baseUrl is not a usable URL"))?;
        Ok(Api {
            http,
            config,
            base,
            token: Mutex::new(None),
        })
    }

    /// `path` ("upload/asset/init") below the base URL, whether or not it ends in `/`.
    fn endpoint(&self, path: &str) -> url::Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("checked to be a base")
            .pop_if_empty()
            .extend(path.split('/'));
        url
    }

    fn cached_token(&self) -> Option<String> {
        self.token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn authenticate(&self) -> Result<String, Failure> {
        let what = "sign-in to Flow Capture";
        let response = self
            .http
            .post(self.endpoint("authenticate/api"))
            .json(&json!({"email": self.config.email, "api_key": self.config.api_key}))
            .timeout(API_TIMEOUT)
            .send()
            .await
            .map_err(|e| Failure::from_http(what, &e))?;
        let status = response.status();
        if !status.is_success() {
            // The answer's text is left out: a service may echo the request, key included.
            return Err(Failure::from_status(what, status, "credentials refused"));
        }
        let token: Token = response
            .json()
            .await
            .map_err(|e| Failure::rejected(format!("{what}: unexpected answer: {e}")))?;
        *self
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(token.token.clone());
        Ok(token.token)
    }

    /// POSTs `body` to `path` and decodes the JSON answer.
    async fn call<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, Failure> {
        let (mut token, mut fresh) = match self.cached_token() {
            Some(token) => (token, false),
            None => (self.authenticate().await?, true),
        };
        loop {
            let response = self
                .http
                .post(self.endpoint(path))
                .bearer_auth(&token)
                .json(body)
                .timeout(API_TIMEOUT)
                .send()
                .await
                .map_err(|e| Failure::from_http(path, &e))?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !fresh {
                token = self.authenticate().await?;
                fresh = true;
                continue;
            }
            if !status.is_success() {
                let text = response.text().await.unwrap_or_default();
                return Err(Failure::from_status(path, status, &text));
            }
            return response
                .json()
                .await
                .map_err(|e| Failure::rejected(format!("{path}: unexpected answer: {e}")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Value {
        json!({"baseUrl": "https://fc.example/api/v2", "email": "cap@uni.example",
               "apiKey": "k3y", "projectID": 42, "batchName": "Week 1"})
    }

    #[test]
    fn configs_are_checked_field_by_field() {
        let parsed = parse(&config()).unwrap();
        assert_eq!(parsed.project_id, "42");
        assert_eq!(parsed.batch_name.as_deref(), Some("Week 1"));
        assert!(!format!("{parsed:?}").contains("k3y"));
        for (key, value, named) in [
            ("baseUrl", json!("ftp://x"), "baseUrl"),
            ("baseUrl", json!("https://x/?a=1"), "baseUrl"),
            ("email", json!("nobody"), "email"),
            ("apiKey", json!(""), "apiKey"),
            ("projectID", Value::Null, "projectID"),
            ("batchName", json!(3), "batchName"),
        ] {
            let mut bad = config();
            bad[key] = value;
            let err = parse(&bad).unwrap_err();
            assert!(err.contains(named), "{key}: {err}");
        }
    }

    #[test]
    fn endpoints_go_below_the_base_with_or_without_a_slash() {
        for base in ["https://fc.example/api/v2", "https://fc.example/api/v2/"] {
            let mut c = parse(&config()).unwrap();
            c.base_url = base.into();
            let http = crate::http_client::builder().build().unwrap();
            let api = Api::new(&http, &c).unwrap();
            assert_eq!(
                api.endpoint("upload/asset/init").as_str(),
                "https://fc.example/api/v2/upload/asset/init"
            );
        }
    }

    #[test]
    fn parts_cover_the_file_and_only_the_last_is_short() {
        let size = 2 * PART_SIZE + 5;
        assert_eq!(part_count(size), 3);
        assert_eq!(part_range(size, 1), (0, PART_SIZE));
        assert_eq!(part_range(size, 3), (2 * PART_SIZE, 5));
        assert_eq!(part_count(0), 1);
        assert_eq!(part_range(0, 1), (0, 0));
        assert_eq!(part_count(PART_SIZE), 1);
    }

    #[test]
    fn a_resumed_file_keeps_its_asset_and_a_changed_one_starts_over() {
        let file = |name: &str, size| PackageFile {
            entry: name.into(),
            mime: "video/mp4".into(),
            path: name.into(),
            name: name.into(),
            size,
            md5: None,
        };
        let (a, b, c) = (file("a.mp4", 10), file("b.mp4", 20), file("c.mp4", 30));
        let mut done = FileState::new(&a);
        done.asset_id = Some("7".into());
        done.size = 11;
        let mut changed = FileState::new(&b);
        changed.size = 21;
        changed.etags.insert(1, "\"e\"".into());
        let saved = State {
            files: vec![changed, done.clone()],
            ingested: true,
            comments: 1,
        };
        let state = resume(saved, &[&a, &b, &c]);
        assert_eq!(state.files[0].asset_id.as_deref(), Some("7"));
        assert!(state.files[1].etags.is_empty());
        assert_eq!(state.files[2].name, "c.mp4");
        assert!(!state.ingested, "new files need ingest");
        assert_eq!(state.comments, 1);
        let again = State {
            files: vec![done],
            ingested: true,
            comments: 2,
        };
        assert!(resume(again, &[&a]).ingested);
    }

    #[test]
    fn speakers_are_names_or_objects_with_a_name() {
        assert_eq!(speaker_name(&json!("Ada")).as_deref(), Some("Ada"));
        assert_eq!(
            speaker_name(&json!({"id": 3, "name": "Grace"})).as_deref(),
            Some("Grace")
        );
        assert_eq!(speaker_name(&json!(3)), None);
        assert_eq!(speaker_name(&json!(" ")), None);
    }
}
