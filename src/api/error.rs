//! The one API error: every failure becomes an HTTP status and a stable machine `code`.
//!
//! The catalog (`catalog.rs`) is the only place codes are defined; the OpenAPI document lists it,
//! and a code never changes meaning once released. Causes of 5xx answers are logged here,
//! once; the client gets a short message without internals.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::auth::{AuthError, UsersError};
use crate::backup::BackupError;
use crate::daemon::OperationError;
use crate::engine::CaptureError;
use crate::graph_builder::GraphBookError;
use crate::packages::PackageError;
use crate::plugins::PluginError;
use crate::publish::PublishError;
use crate::scheduler::ScheduleError;
use crate::settings::SettingsError;
use crate::speakers::SpeakerError;
use crate::store::StoreError;
use crate::templates::TemplateError;

mod catalog;
pub(crate) use catalog::{ErrorCode, alarm_catalog, catalog, failure_catalog};

/// Body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// HTTP reason phrase of the status.
    pub error: String,
    /// Stable machine code from the catalog in `x-error-codes`.
    pub code: String,
    /// One line for a person.
    pub message: String,
    pub status_code: u16,
    #[schema(value_type = Object)]
    pub params: Map<String, Value>,
}

/// An error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub params: Map<String, Value>,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            params: Map::new(),
            retry_after_secs: None,
        }
    }

    /// Adds a parameter that locates or explains the error.
    pub(crate) fn with(mut self, key: &str, value: impl Into<Value>) -> ApiError {
        self.params.insert(key.to_string(), value.into());
        self
    }

    /// An internal failure: logs the cause once and answers without it.
    pub(crate) fn internal(cause: impl std::fmt::Display) -> ApiError {
        log::error!("internal error: {cause}");
        ApiError::new(ErrorCode::Internal, "internal error; see the unit's log")
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// Adds a `Retry-After` header of `secs` seconds.
    pub(crate) fn retry_after(mut self, secs: u64) -> ApiError {
        self.retry_after_secs = Some(secs);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody {
            error: status.canonical_reason().unwrap_or("Error").to_string(),
            code: self.code.as_str().to_string(),
            message: self.message,
            status_code: status.as_u16(),
            params: self.params,
        };
        let mut response = (status, axum::Json(body)).into_response();
        // For the audit trail, which records the code of every refused call.
        response.extensions_mut().insert(self.code);
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"castd\", charset=\"UTF-8\""),
            );
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Busy => ApiError::new(ErrorCode::StoreBusy, "the database is busy; retry"),
            other => ApiError::internal(other),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing => ApiError::new(ErrorCode::AuthRequired, "credentials required"),
            AuthError::Invalid => {
                ApiError::new(ErrorCode::AuthInvalid, "invalid user name or password")
            }
            AuthError::Throttled { retry_after } => {
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                let mut err = ApiError::new(
                    ErrorCode::AuthThrottled,
                    format!("too many failed or pending logins; retry in {secs} s"),
                )
                .with("retryAfter", secs);
                err.retry_after_secs = Some(secs);
                err
            }
            AuthError::Busy { retry_after } => {
                let secs = retry_after.as_secs().max(1);
                let mut err = ApiError::new(
                    ErrorCode::AuthBusy,
                    format!("too many logins are being checked; retry in {secs} s"),
                )
                .with("retryAfter", secs);
                err.retry_after_secs = Some(secs);
                err
            }
            AuthError::Store(e) => e.into(),
        }
    }
}

impl From<UsersError> for ApiError {
    fn from(e: UsersError) -> Self {
        let message = e.to_string();
        match e {
            UsersError::NotFound(id) => {
                ApiError::new(ErrorCode::UserNotFound, message).with("id", id)
            }
            UsersError::DuplicateUsername(name) => {
                ApiError::new(ErrorCode::UserDuplicate, message).with("username", name)
            }
            UsersError::LastAdmin => ApiError::new(ErrorCode::UserLastAdmin, message),
            UsersError::InvalidUsername(_) => {
                ApiError::new(ErrorCode::UserInvalidUsername, message)
            }
            UsersError::InvalidPassword(_) => {
                ApiError::new(ErrorCode::UserInvalidPassword, message)
            }
            UsersError::InvalidRoles(_) => ApiError::new(ErrorCode::UserInvalidRoles, message),
            UsersError::Store(e) => e.into(),
        }
    }
}

impl From<SettingsError> for ApiError {
    fn from(e: SettingsError) -> Self {
        let message = e.to_string();
        match e {
            SettingsError::NotFound(key) => {
                ApiError::new(ErrorCode::SettingNotFound, message).with("key", key)
            }
            SettingsError::UnknownKey(key) => {
                ApiError::new(ErrorCode::SettingUnknownKey, message).with("key", key)
            }
            SettingsError::InvalidValue { key, reason } => {
                ApiError::new(ErrorCode::SettingInvalidValue, message)
                    .with("key", key)
                    .with("reason", reason)
            }
            SettingsError::Store(e) => e.into(),
        }
    }
}

impl From<PluginError> for ApiError {
    fn from(e: PluginError) -> Self {
        let message = e.to_string();
        match e {
            PluginError::NotFound(id) => {
                ApiError::new(ErrorCode::PluginNotFound, message).with("plugin", id)
            }
            PluginError::UnknownService { plugin, service } => {
                ApiError::new(ErrorCode::PluginUnknownService, message)
                    .with("plugin", plugin)
                    .with("service", service)
            }
            PluginError::InvalidSettings { plugin, reason } => {
                ApiError::new(ErrorCode::PluginInvalidSettings, message)
                    .with("plugin", plugin)
                    .with("reason", reason)
            }
            PluginError::InvalidArgs(reason) => {
                ApiError::new(ErrorCode::PluginInvalidArgs, message).with("reason", reason)
            }
            PluginError::Store(e) => e.into(),
        }
    }
}

impl From<TemplateError> for ApiError {
    fn from(e: TemplateError) -> Self {
        let message = e.to_string();
        match e {
            TemplateError::NotFound(id) => {
                ApiError::new(ErrorCode::TemplateNotFound, message).with("id", id)
            }
            TemplateError::Invalid(_) => ApiError::new(ErrorCode::TemplateInvalid, message),
            TemplateError::Graph(g) => {
                let mut err = ApiError::new(ErrorCode::TemplateInvalid, message);
                if let Some(node) = g.node() {
                    err = err.with("node", node.to_string());
                }
                if let crate::graph::GraphError::Option(o) = &g {
                    err = err
                        .with("option", o.option.clone())
                        .with("reason", o.reason.clone());
                }
                if let crate::graph::GraphError::TooLarge { limit, .. } = &g {
                    err = err.with("limit", *limit);
                }
                err
            }
            TemplateError::TooLarge { limit, .. } => {
                ApiError::new(ErrorCode::TemplateInvalid, message).with("limit", limit)
            }
            TemplateError::DuplicateName { name, other } => {
                ApiError::new(ErrorCode::TemplateDuplicateName, message)
                    .with("name", name)
                    .with("id", other)
            }
            TemplateError::InUse(id, _) | TemplateError::Recording(id) => {
                ApiError::new(ErrorCode::TemplateInUse, message).with("id", id)
            }
            TemplateError::Store(e) => e.into(),
        }
    }
}

impl From<PackageError> for ApiError {
    fn from(e: PackageError) -> Self {
        let message = e.to_string();
        match e {
            PackageError::NotFound(id) => {
                ApiError::new(ErrorCode::PackageNotFound, message).with("id", id)
            }
            PackageError::Busy { id, .. } => {
                ApiError::new(ErrorCode::PackageBusy, message).with("id", id)
            }
            PackageError::BadPath(p) => {
                ApiError::new(ErrorCode::PackageBadPath, message).with("path", p)
            }
            PackageError::NoOutput(entry) => {
                ApiError::new(ErrorCode::PackageNoOutput, message).with("entry", entry)
            }
            PackageError::Invalid(_) => ApiError::new(ErrorCode::PackageInvalid, message),
            PackageError::Io(e) => ApiError::internal(e),
            PackageError::Store(e) => e.into(),
        }
    }
}

impl From<CaptureError> for ApiError {
    fn from(e: CaptureError) -> Self {
        let message = e.to_string();
        match e {
            CaptureError::AlreadyRunning => {
                ApiError::new(ErrorCode::CaptureAlreadyRunning, message)
            }
            CaptureError::Idle => ApiError::new(ErrorCode::CaptureIdle, message),
            CaptureError::NotCapturing(state) => {
                ApiError::new(ErrorCode::CaptureNotCapturing, message).with("state", state)
            }
            CaptureError::NotPaused(state) => {
                ApiError::new(ErrorCode::CaptureNotPaused, message).with("state", state)
            }
            CaptureError::SessionRequired => {
                ApiError::new(ErrorCode::CaptureSessionRequired, message)
            }
            CaptureError::SessionNotFound(id) => {
                ApiError::new(ErrorCode::CaptureSessionNotFound, message).with("sessionID", id)
            }
            CaptureError::NoStopTime => ApiError::new(ErrorCode::CaptureNoStopTime, message),
            CaptureError::NoTemplate => ApiError::new(ErrorCode::CaptureNoTemplate, message),
            CaptureError::Template(t) => t.into(),
            CaptureError::Graph(g) => TemplateError::Graph(g).into(),
            CaptureError::InvalidRequest(_) => {
                ApiError::new(ErrorCode::CaptureInvalidRequest, message)
            }
            CaptureError::InvalidMarker { field, max, .. } => {
                ApiError::new(ErrorCode::CaptureInvalidMarker, message)
                    .with("field", field)
                    .with("limit", max)
            }
            CaptureError::TooManyMarkers { limit } => {
                ApiError::new(ErrorCode::CaptureTooManyMarkers, message).with("limit", limit)
            }
            CaptureError::DiskLow { needed, usable } => {
                ApiError::new(ErrorCode::CaptureDiskLow, message)
                    .with("needed", needed)
                    .with("usable", usable)
            }
            CaptureError::Pipeline(_) => {
                log::error!("{message}");
                ApiError::new(ErrorCode::CapturePipelineFailed, message)
            }
            CaptureError::NoPreview(_) => ApiError::new(ErrorCode::PreviewUnavailable, message),
            CaptureError::PreviewRestarting => {
                let mut err = ApiError::new(ErrorCode::PreviewRestarting, message);
                err.retry_after_secs = Some(1);
                err
            }
            CaptureError::Package(p) => p.into(),
            CaptureError::Gone => ApiError::new(ErrorCode::EngineUnavailable, message),
            CaptureError::NodeNotFound { graph, node } => {
                ApiError::new(ErrorCode::GraphNodeNotFound, message)
                    .with("graphID", graph)
                    .with("nodeID", node)
            }
            CaptureError::UnknownService { node, service, .. } => {
                ApiError::new(ErrorCode::GraphUnknownService, message)
                    .with("nodeID", node)
                    .with("service", service)
            }
        }
    }
}

impl From<ScheduleError> for ApiError {
    fn from(e: ScheduleError) -> Self {
        let message = e.to_string();
        match e {
            ScheduleError::NotFound(id) => {
                ApiError::new(ErrorCode::ScheduleNotFound, message).with("id", id)
            }
            ScheduleError::GroupNotFound(id) => {
                ApiError::new(ErrorCode::ScheduleGroupNotFound, message).with("id", id)
            }
            ScheduleError::Invalid { field, reason } => {
                ApiError::new(ErrorCode::ScheduleInvalid, message)
                    .with("field", field)
                    .with("reason", reason)
            }
            ScheduleError::Overlap { other } => ApiError::new(ErrorCode::ScheduleOverlap, message)
                .with("eventID", other.id)
                .with("title", other.title)
                .with("startTime", other.start_time)
                .with("stopTime", other.stop_time),
            ScheduleError::Running(id) => {
                ApiError::new(ErrorCode::ScheduleRunning, message).with("id", id)
            }
            ScheduleError::Ended(id) => {
                ApiError::new(ErrorCode::ScheduleEnded, message).with("id", id)
            }
            ScheduleError::OwnedByOpencast { id, uid } => {
                ApiError::new(ErrorCode::ScheduleOwnedByOpencast, message)
                    .with("id", id)
                    .with("uid", uid)
            }
            ScheduleError::Calendar(reason) => {
                ApiError::new(ErrorCode::CalendarInvalid, message).with("reason", reason)
            }
            ScheduleError::Fetch(reason) => {
                ApiError::new(ErrorCode::CalendarFetchFailed, message).with("reason", reason)
            }
            ScheduleError::Capture(e) => e.into(),
            ScheduleError::Store(e) => e.into(),
        }
    }
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> Self {
        let message = e.to_string();
        match e {
            PublishError::UnknownPublisher(id) => {
                ApiError::new(ErrorCode::PublishUnknownPublisher, message).with("publisherID", id)
            }
            PublishError::InvalidConfig { publisher, reason } => {
                ApiError::new(ErrorCode::PublishInvalidConfig, message)
                    .with("publisherID", publisher)
                    .with("reason", reason)
            }
            PublishError::NotConfigured { publisher } => {
                ApiError::new(ErrorCode::PublishInvalidConfig, message)
                    .with("publisherID", publisher)
            }
            PublishError::JobNotFound(id) => {
                ApiError::new(ErrorCode::PublishJobNotFound, message).with("id", id)
            }
            PublishError::PackageNotReady { id, state } => {
                ApiError::new(ErrorCode::PublishPackageNotReady, message)
                    .with("id", id)
                    .with("state", state)
            }
            PublishError::NothingToPublish(id) => {
                ApiError::new(ErrorCode::PublishNothingToPublish, message).with("id", id)
            }
            PublishError::NotRetryable { id, state } => {
                ApiError::new(ErrorCode::PublishNotRetryable, message)
                    .with("id", id)
                    .with("state", state)
            }
            PublishError::InvalidOverrides(reason) => {
                ApiError::new(ErrorCode::PublishInvalidOverrides, message).with("reason", reason)
            }
            PublishError::OverrideForbidden { publisher, key } => {
                let allowed = crate::publish::overrides::harmless_keys(&publisher).to_vec();
                ApiError::new(ErrorCode::PublishOverrideForbidden, message)
                    .with("publisherID", publisher)
                    .with("key", key)
                    .with("allowed", allowed)
            }
            PublishError::OutsideConfigured {
                publisher,
                key,
                reason,
            } => ApiError::new(ErrorCode::PublishOutsideConfigured, message)
                .with("publisherID", publisher)
                .with("key", key)
                .with("reason", reason),
            PublishError::SecretRequired {
                publisher,
                changed,
                secrets,
            } => ApiError::new(ErrorCode::PublishSecretRequired, message)
                .with("publisherID", publisher)
                .with("changed", changed)
                .with("secrets", secrets),
            PublishError::Package(e) => e.into(),
            PublishError::Store(e) => e.into(),
        }
    }
}

impl From<GraphBookError> for ApiError {
    fn from(e: GraphBookError) -> Self {
        let message = e.to_string();
        match e {
            GraphBookError::GraphNotFound(id) => {
                ApiError::new(ErrorCode::GraphNotFound, message).with("graphID", id)
            }
            GraphBookError::NodeNotFound { graph, node } => {
                ApiError::new(ErrorCode::GraphNodeNotFound, message)
                    .with("graphID", graph)
                    .with("nodeID", node)
            }
            GraphBookError::Invalid(_) => ApiError::new(ErrorCode::GraphInvalid, message),
            GraphBookError::InvalidOption {
                node,
                option,
                reason,
            } => ApiError::new(ErrorCode::GraphInvalidOption, message)
                .with("nodeID", node)
                .with("option", option)
                .with("reason", reason),
            GraphBookError::Cycle(node) => {
                ApiError::new(ErrorCode::GraphCycle, message).with("nodeID", node)
            }
            GraphBookError::RootRemoval(node) => {
                ApiError::new(ErrorCode::GraphRoot, message).with("nodeID", node)
            }
            GraphBookError::Taken(id) => {
                ApiError::new(ErrorCode::GraphIdTaken, message).with("graphID", id)
            }
            GraphBookError::Store(e) => e.into(),
        }
    }
}

impl From<crate::opencast::link::LinkError> for ApiError {
    fn from(e: crate::opencast::link::LinkError) -> Self {
        use crate::opencast::link::LinkError;
        match e {
            LinkError::Invalid(invalid) => {
                ApiError::new(ErrorCode::OpencastInvalidConfig, invalid.to_string())
                    .with("field", invalid.field.clone())
                    .with("reason", invalid.reason.clone())
            }
            LinkError::NotConfigured(reason) => {
                ApiError::new(ErrorCode::OpencastNotConfigured, e.to_string())
                    .with("reason", reason.to_string())
            }
            LinkError::Opencast(error) => {
                ApiError::new(ErrorCode::OpencastFailed, error.to_string())
                    .with("code", error.code().to_string())
            }
            LinkError::Store(store) => store.into(),
        }
    }
}

impl From<crate::daemon::MaintenanceError> for ApiError {
    fn from(e: crate::daemon::MaintenanceError) -> Self {
        use crate::daemon::MaintenanceError;
        let message = e.to_string();
        match e {
            MaintenanceError::Capturing { sessions } => {
                ApiError::new(ErrorCode::MaintenanceCapturing, message).with("sessions", sessions)
            }
            MaintenanceError::InProgress => {
                ApiError::new(ErrorCode::MaintenanceInProgress, message)
            }
            MaintenanceError::Disabled(action) => {
                ApiError::new(ErrorCode::MaintenanceDisabled, message).with("action", action)
            }
            MaintenanceError::Capture(e) => e.into(),
        }
    }
}

impl From<SpeakerError> for ApiError {
    fn from(e: SpeakerError) -> Self {
        let message = e.to_string();
        match e {
            SpeakerError::NotFound(id) => {
                ApiError::new(ErrorCode::SpeakerNotFound, message).with("id", id)
            }
            SpeakerError::UnknownReference(reference) => {
                ApiError::new(ErrorCode::SpeakerUnknownReference, message)
                    .with("reference", reference)
            }
            SpeakerError::Invalid { field, reason } => {
                ApiError::new(ErrorCode::SpeakerInvalid, message)
                    .with("field", field)
                    .with("reason", reason)
            }
            SpeakerError::DuplicateName(name) => {
                ApiError::new(ErrorCode::SpeakerDuplicateName, message).with("name", name)
            }
            SpeakerError::Store(e) => e.into(),
        }
    }
}

/// An operation of the daemon is refused as the part that refused it would be.
impl From<OperationError> for ApiError {
    fn from(e: OperationError) -> Self {
        let message = e.to_string();
        match e {
            OperationError::Capture(e) => e.into(),
            OperationError::Speaker(e) => e.into(),
            OperationError::Publish(e) => e.into(),
            OperationError::Package(e) => e.into(),
            OperationError::Template(e) => e.into(),
            OperationError::Schedule(e) => e.into(),
            OperationError::Plugin(e) => e.into(),
            OperationError::Graph(e) => e.into(),
            OperationError::Backup(e) => e.into(),
            OperationError::Maintenance(e) => e.into(),
            OperationError::RestoreWhileCapturing { sessions } => {
                ApiError::new(ErrorCode::BackupCaptureRunning, message).with("sessions", sessions)
            }
        }
    }
}

impl From<BackupError> for ApiError {
    fn from(e: BackupError) -> Self {
        let message = e.to_string();
        match e {
            BackupError::Invalid(reason) => {
                ApiError::new(ErrorCode::BackupInvalid, message).with("reason", reason)
            }
            BackupError::NewerSchema { found, supported } => {
                ApiError::new(ErrorCode::BackupNewerSchema, message)
                    .with("schemaVersion", found)
                    .with("supported", supported)
            }
            BackupError::TooLarge { size, limit } => {
                ApiError::new(ErrorCode::BackupTooLarge, message)
                    .with("size", size)
                    .with("limit", limit)
            }
            BackupError::Store(e) => e.into(),
            BackupError::Io(_) | BackupError::Sqlite(_) => ApiError::internal(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_dotted() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {}", code.as_str());
            assert!(code.as_str().contains('.'), "{}", code.as_str());
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
    }

    #[test]
    fn a_preview_moving_between_pipelines_is_a_retryable_503() {
        let response = ApiError::from(CaptureError::PreviewRestarting).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(
            response.extensions().get::<ErrorCode>(),
            Some(&ErrorCode::PreviewRestarting)
        );
    }

    #[tokio::test]
    async fn the_body_is_the_documented_error_body() {
        use http_body_util::BodyExt as _;
        let response = ApiError::new(ErrorCode::MissingParam, "title is required")
            .with("param", "title")
            .into_response();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "error": "Bad Request",
                "code": "request.missing_param",
                "message": "title is required",
                "status_code": 400,
                "params": {"param": "title"},
            })
        );
    }
}
