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
//!
//! This file holds the publish flow in its order (send every file, trigger ingest, describe
//! the assets, comment the markers); the configuration, the API client, the checkpoint,
//! the multipart upload and the asset metadata each live beside it.

mod api;
mod config;
mod metadata;
mod parts;
mod state;
mod upload;

use serde_json::{Value, json};

use crate::publish::job::{Delivered, Failure, Job, PackageFile};
use api::{Api, id_text};
pub(crate) use config::{Config, parse};
use metadata::{asset_metadata, marker_comment};
use parts::part_count;
use state::{FileState, State, asset_of, resume};
use upload::{MAX_PARTS, upload_file};

pub(crate) const ID: &str = "flowcapture";
pub(crate) const NAME: &str = "Autodesk Flow Capture";
/// Config keys that are secrets (write-only, masked on read by the queue, never logged).
pub(crate) const SECRETS: &[&str] = &["apiKey"];
/// Plugin services (name, description) offered through POST /plugins/flowcapture/services/<name>.
pub(crate) const SERVICES: &[(&str, &str)] = &[
    (
        "listGroups",
        "Productions (API \"groups\") visible to the configured user",
    ),
    (
        "listProjects",
        "Folders (API \"projects\") visible to the configured user; `groupID` limits them to one production",
    ),
];

/// Checks credentials and reachability WITHOUT uploading media. Ok(message) on success.
pub(crate) async fn test(http: &reqwest::Client, config: &Config) -> Result<String, Failure> {
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
pub(crate) async fn service(
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

/// Publishes one media package. Resumable: see Job::checkpoint/save_checkpoint.
pub(crate) async fn publish(job: &Job, config: &Config) -> Result<Delivered, Failure> {
    // The queue lists the main recording first; its asset is the one comments go to.
    let files: Vec<&PackageFile> = job.files.iter().collect();
    check_publishable(&files)?;
    let mut state = resume(job.checkpoint::<State>().await.unwrap_or_default(), &files);
    job.set_total(files.iter().map(|f| f.size).sum());
    job.set_done(state.files.iter().map(FileState::confirmed).sum());

    let api = Api::new(&job.http, config)?;
    for (index, file) in files.iter().enumerate() {
        upload_file(job, &api, &mut state, index, file).await?;
    }
    trigger_ingest(job, &api, &mut state).await?;
    describe_assets(job, &api, &mut state, &files).await?;
    let main_asset = asset_of(&state, 0)?;
    comment_markers(job, &api, &mut state, &main_asset).await?;
    Ok(Delivered {
        url: None,
        remote_id: Some(main_asset),
    })
}

/// Refuses a package that no attempt could deliver: without outputs, or with a file
/// larger than a multipart upload can carry. Neither gets better by trying again.
fn check_publishable(files: &[&PackageFile]) -> Result<(), Failure> {
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
    Ok(())
}

/// Hands every uploaded key to Flow Capture's ingest, once.
async fn trigger_ingest(job: &Job, api: &Api<'_>, state: &mut State) -> Result<(), Failure> {
    if state.ingested {
        return Ok(());
    }
    not_cancelled(job)?;
    let keys: Vec<&str> = state
        .files
        .iter()
        .filter_map(|f| f.upload.as_ref().map(|u| u.key.as_str()))
        .collect();
    let answer: Value = api
        .call(
            "complete/upload",
            &api.with_batch(json!({"project_id": api.config.project_id, "keys": keys})),
        )
        .await?;
    if answer["ok"] != Value::Bool(true) {
        return Err(Failure::rejected(format!(
            "Flow Capture did not queue the upload for ingest: {answer}"
        )));
    }
    state.ingested = true;
    job.save_checkpoint(&*state).await
}

/// Gives each asset not yet described the package's title, tags, speaker and metadata.
async fn describe_assets(
    job: &Job,
    api: &Api<'_>,
    state: &mut State,
    files: &[&PackageFile],
) -> Result<(), Failure> {
    for (index, file) in files.iter().enumerate() {
        if state.files[index].described {
            continue;
        }
        not_cancelled(job)?;
        let asset_id = asset_of(state, index)?;
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
        job.save_checkpoint(&*state).await?;
    }
    Ok(())
}

/// Turns the markers not yet sent into timeline comments on the main asset, in order.
async fn comment_markers(
    job: &Job,
    api: &Api<'_>,
    state: &mut State,
    main_asset: &str,
) -> Result<(), Failure> {
    while let Some(marker) = job.package.markers.get(state.comments) {
        not_cancelled(job)?;
        let _comment: Value = api
            .call("create/comment", &marker_comment(marker, main_asset))
            .await?;
        state.comments += 1;
        job.save_checkpoint(&*state).await?;
    }
    Ok(())
}

fn not_cancelled(job: &Job) -> Result<(), Failure> {
    if job.is_cancelled() {
        Err(Failure::cancelled())
    } else {
        Ok(())
    }
}
