//! Publishing routes of the `capture` group: publish a media package, test and store
//! publisher configurations, and follow the publish queue's jobs.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::api::auth::CurrentUser;
use crate::api::error::{ApiError, ErrorCode};
use crate::api::params::{Form, PathParam, Query};
use crate::auth::Permission;
use crate::daemon::Daemon;
use crate::model::{
    JobState, PublishJob, PublishPlatformConfiguration, PublishRequest, PublishTestResult,
};
use crate::publish::job::Failure;

/// Parameters of publishMediaPackage.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PublishForm {
    /// Optional: without it (or with no `configs`) the package goes to its template's
    /// publishers, else to every configured publisher.
    #[serde(default)]
    pub publish_request: Option<PublishRequest>,
}

/// Publish a media package
///
/// Queues one job per publisher and answers at once (202); the jobs run in the background
/// and survive restarts. `configs[].config` keys are laid over the stored configuration of
/// each publisher, by the rules of testPublishing. Asking again never uploads twice: a
/// queued, running or done job is returned as it is; a failed or cancelled one is queued
/// again.
#[utoipa::path(post, path = "/capture/mediaPackages/{id}/publish", tag = "capture", operation_id = "publishMediaPackage",
    params(("id" = String, Path)),
    request_body(content = PublishForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 202, body = Vec<PublishJob>)))]
pub(crate) async fn publish_media_package(
    State(daemon): State<Daemon>,
    CurrentUser(user): CurrentUser,
    PathParam(id): PathParam<String>,
    Form(form): Form<PublishForm>,
) -> Result<(StatusCode, Json<Vec<PublishJob>>), ApiError> {
    let request = form.publish_request.unwrap_or_default();
    let by_administrator = Permission::Admin.granted_to(&user.roles);
    let jobs = daemon
        .publishing()
        .publish(&id, request, by_administrator)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(jobs)))
}

/// Parameters of testPublishing.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct TestForm {
    pub config: PublishPlatformConfiguration,
}

/// Test a publishing configuration
///
/// Checks credentials, reachability and permissions without uploading media. The given
/// keys are laid over the stored configuration (a secret left out or sent masked is the
/// stored one). A failed check still answers 200, with `ok` false and a code such as
/// `publish.unreachable`, `publish.auth_failed` or `publish.invalid_config`.
///
/// Stored secrets go only to the configured server. For a caller below Administrator,
/// a configuration that changes anything but the harmless keys (those allowed in
/// CaptureRequest `publishingOverrides`), such as `url`, `baseUrl`, `endpoint`, `bucket`,
/// `region`, a user name or a project, must bring every secret of the publisher again
/// (403 `publish.secret_required`, naming them); a local `path` must be the configured
/// folder or one below it, reached without links (403 `publish.outside_configured`).
#[utoipa::path(post, path = "/capture/publishing/test", tag = "capture", operation_id = "testPublishing",
    request_body(content = TestForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = PublishTestResult)))]
pub(crate) async fn test_publishing(
    State(daemon): State<Daemon>,
    CurrentUser(user): CurrentUser,
    Form(form): Form<TestForm>,
) -> Result<Json<PublishTestResult>, ApiError> {
    let by_administrator = Permission::Admin.granted_to(&user.roles);
    Ok(Json(
        daemon
            .publishing()
            .test(form.config, by_administrator)
            .await?,
    ))
}

/// The last test result of each publisher
#[utoipa::path(get, path = "/capture/publishing/tested", tag = "capture", operation_id = "getTestedConfigurations",
    responses((status = 200, body = Vec<PublishTestResult>)))]
pub(crate) async fn get_tested_configurations(
    State(daemon): State<Daemon>,
) -> Result<Json<Vec<PublishTestResult>>, ApiError> {
    Ok(Json(daemon.publishing().tested().await?))
}

/// Every publisher's configuration, secrets masked
#[utoipa::path(get, path = "/capture/publishing/configurations", tag = "capture", operation_id = "getPublishingConfigurations",
    responses((status = 200, body = Vec<PublishPlatformConfiguration>)))]
pub(crate) async fn get_publishing_configurations(
    State(daemon): State<Daemon>,
) -> Result<Json<Vec<PublishPlatformConfiguration>>, ApiError> {
    Ok(Json(daemon.publishing().configurations().await?))
}

/// Parameters of updatePublishingConfiguration.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ConfigForm {
    /// Config keys; named keys replace the stored ones, `null` removes one, a secret left
    /// out or sent masked keeps its value.
    #[schema(value_type = Object)]
    pub config: Map<String, Value>,
}

/// Store a publisher's configuration
///
/// Validated as a whole (422 `publish.invalid_config` naming the field; nothing changes).
/// The same object is the publisher plugin's settings. `"enabled": false` keeps the
/// publisher out of automatic publishing.
#[utoipa::path(post, path = "/capture/publishing/configurations/{publisherID}", tag = "capture", operation_id = "updatePublishingConfiguration",
    params(("publisherID" = String, Path)),
    request_body(content = ConfigForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = PublishPlatformConfiguration)))]
pub(crate) async fn update_publishing_configuration(
    State(daemon): State<Daemon>,
    PathParam(publisher): PathParam<String>,
    Form(form): Form<ConfigForm>,
) -> Result<Json<PublishPlatformConfiguration>, ApiError> {
    Ok(Json(
        daemon
            .publishing()
            .update_configuration(&publisher, form.config)
            .await?,
    ))
}

/// Parameters of updatePublishingConfigurations.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ConfigsForm {
    pub configs: Vec<PublishPlatformConfiguration>,
}

/// Store several publishers' configurations, all or nothing
#[utoipa::path(post, path = "/capture/publishing/configurations", tag = "capture", operation_id = "updatePublishingConfigurations",
    request_body(content = ConfigsForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Vec<PublishPlatformConfiguration>)))]
pub(crate) async fn update_publishing_configurations(
    State(daemon): State<Daemon>,
    Form(form): Form<ConfigsForm>,
) -> Result<Json<Vec<PublishPlatformConfiguration>>, ApiError> {
    Ok(Json(
        daemon
            .publishing()
            .update_configurations(form.configs)
            .await?,
    ))
}

/// Filters of getPublishJobs.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobsQuery {
    /// Only this package's jobs.
    #[serde(rename = "mediaPackageID")]
    #[param(rename = "mediaPackageID")]
    pub media_package_id: Option<String>,
    /// Only jobs in this state (queued, running, done, failed, cancelled).
    pub state: Option<JobState>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// Publish jobs, newest first
///
/// `progress` of a running job is live. A job waiting to retry has `nextAttemptAt`,
/// `lastError` and `lastCode`.
#[utoipa::path(get, path = "/capture/publishing/jobs", tag = "capture", operation_id = "getPublishJobs",
    params(JobsQuery),
    responses((status = 200, body = Vec<PublishJob>)))]
pub(crate) async fn get_publish_jobs(
    State(daemon): State<Daemon>,
    Query(q): Query<JobsQuery>,
) -> Result<Json<Vec<PublishJob>>, ApiError> {
    Ok(Json(
        daemon
            .publishing()
            .jobs(
                q.media_package_id,
                q.state,
                q.limit.unwrap_or(100).clamp(1, 1000),
            )
            .await?,
    ))
}

/// One publish job
#[utoipa::path(get, path = "/capture/publishing/jobs/{id}", tag = "capture", operation_id = "getPublishJob",
    params(("id" = String, Path)),
    responses((status = 200, body = PublishJob)))]
pub(crate) async fn get_publish_job(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
) -> Result<Json<PublishJob>, ApiError> {
    Ok(Json(daemon.publishing().job(&id).await?))
}

/// Cancel a publish job
///
/// A queued job is cancelled at once, a running one at its next step (what the target
/// already holds stays there). Returns the job as it then is.
#[utoipa::path(post, path = "/capture/publishing/jobs/{id}/cancel", tag = "capture", operation_id = "cancelPublishJob",
    params(("id" = String, Path)),
    responses((status = 200, body = PublishJob)))]
pub(crate) async fn cancel_publish_job(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
) -> Result<Json<PublishJob>, ApiError> {
    Ok(Json(daemon.publishing().cancel(&id).await?))
}

/// Retry a publish job now
///
/// For a job waiting out its backoff, or one that failed or was cancelled (409
/// `publish.not_retryable` for running and done jobs). It resumes where it stopped.
#[utoipa::path(post, path = "/capture/publishing/jobs/{id}/retry", tag = "capture", operation_id = "retryPublishJob",
    params(("id" = String, Path)),
    responses((status = 200, body = PublishJob)))]
pub(crate) async fn retry_publish_job(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
) -> Result<Json<PublishJob>, ApiError> {
    Ok(Json(daemon.publishing().retry(&id).await?))
}

/// A publisher service's failure as an API error (the target, not the request, failed).
pub(crate) fn service_failure(publisher: &str, failure: Failure) -> ApiError {
    ApiError::new(
        ErrorCode::PublishServiceFailed,
        format!("{publisher}: {}", failure.message),
    )
    .with("publisherID", publisher.to_string())
    .with("code", failure.code.to_string())
}
