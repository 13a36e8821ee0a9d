//! The one API error: every failure becomes an HTTP status and a stable machine `code`.
//!
//! The catalog below is the only place codes are defined; the OpenAPI document lists it,
//! and a code never changes meaning once released. Causes of 5xx answers are logged here,
//! once; the client gets a short message without internals.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::auth::{AuthError, UsersError};
use crate::backup::BackupError;
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

macro_rules! error_codes {
    ($($variant:ident = $code:literal, $status:ident, $doc:literal;)*) => {
        /// Stable machine-readable error codes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant),* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),* }
            }

            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status),* }
            }

            /// When a client sees this code, and what it means.
            pub fn description(self) -> &'static str {
                match self { $(ErrorCode::$variant => $doc),* }
            }
        }
    };
}

error_codes! {
    MalformedForm = "request.malformed_form", BAD_REQUEST,
        "The form-encoded body or query string is not valid (bad percent-encoding or not UTF-8).";
    MalformedJson = "request.malformed_json", BAD_REQUEST,
        "A JSON body, or a parameter meant to hold JSON, does not parse. `params.param` names it.";
    MissingParam = "request.missing_param", BAD_REQUEST,
        "A required parameter is absent. `params.param` names it.";
    BadParam = "request.bad_param", BAD_REQUEST,
        "A parameter has the wrong type or an impossible value (e.g. `limit=abc`). `params.param` names it.";
    BadPathParam = "request.bad_path_param", BAD_REQUEST,
        "A value in the URL path is not of the expected form (e.g. a non-numeric id).";
    UnsupportedMediaType = "request.unsupported_media_type", UNSUPPORTED_MEDIA_TYPE,
        "The body's Content-Type is not application/x-www-form-urlencoded or application/json.";
    BodyTooLarge = "request.body_too_large", PAYLOAD_TOO_LARGE,
        "The request body exceeds the limit (`params.limit` bytes).";
    TooManyParams = "request.too_many_params", BAD_REQUEST,
        "The query string and body together hold more than `params.limit` parameters (repeated names count each time).";
    CrossSite = "request.cross_site", FORBIDDEN,
        "A request that changes something came from a page of another site (its `Origin` is not this unit, or `Sec-Fetch-Site` is `cross-site` or `same-site`); nothing was changed. Clients that are not browsers send neither header.";
    TooManyConnections = "http.too_many_connections", SERVICE_UNAVAILABLE,
        "The unit holds as many connections as it allows, from this address (`params.scope` `address`) or in all (`total`); the connection is closed. Retry after `Retry-After` seconds.";
    RequestTimeout = "request.timeout", REQUEST_TIMEOUT,
        "The request took longer than the server allows.";
    RouteNotFound = "route.not_found", NOT_FOUND,
        "No route has this path.";
    MethodNotAllowed = "route.method_not_allowed", METHOD_NOT_ALLOWED,
        "The path exists but not with this HTTP method; the Allow header lists the methods it has.";
    AuthRequired = "auth.required", UNAUTHORIZED,
        "The route needs credentials (HTTP Basic) and none were sent.";
    AuthInvalid = "auth.invalid_credentials", UNAUTHORIZED,
        "The user name or password is wrong, or the Authorization header is malformed.";
    AuthForbidden = "auth.forbidden", FORBIDDEN,
        "The user is valid but its roles lack the permission the route needs (`params.permission`).";
    AuthThrottled = "auth.throttled", TOO_MANY_REQUESTS,
        "Too many failed logins from this address or for this user, or too many of its logins being checked at once; retry after `Retry-After` seconds.";
    AuthBusy = "auth.busy", SERVICE_UNAVAILABLE,
        "Too many logins are waiting for their password to be checked; retry after `Retry-After` seconds. Credentials checked recently are answered from memory and are not refused.";
    ValidationFailed = "validation.invalid_field", UNPROCESSABLE_ENTITY,
        "Valid JSON whose content fails validation. `params.param` and `params.field` locate it.";
    UserNotFound = "users.not_found", NOT_FOUND,
        "No user has this id.";
    UserDuplicate = "users.duplicate_username", CONFLICT,
        "Another user already has this name (names are compared ignoring case).";
    UserLastAdmin = "users.last_admin", CONFLICT,
        "The change would leave the unit without an Administrator.";
    UserInvalidUsername = "users.invalid_username", UNPROCESSABLE_ENTITY,
        "User names are 1 to 64 letters, digits or . _ @ -.";
    UserInvalidPassword = "users.invalid_password", UNPROCESSABLE_ENTITY,
        "The password does not meet the policy (at least 8 characters, no control characters).";
    UserInvalidRoles = "users.invalid_roles", UNPROCESSABLE_ENTITY,
        "A user needs at least one of the five roles.";
    SettingNotFound = "settings.not_found", NOT_FOUND,
        "No setting has this key.";
    SettingUnknownKey = "settings.unknown_key", UNPROCESSABLE_ENTITY,
        "A bulk update names a key that is not a setting; nothing was changed.";
    SettingInvalidValue = "settings.invalid_value", UNPROCESSABLE_ENTITY,
        "The value does not fit the setting's schema; nothing was changed. `params.key`, `params.reason`.";
    PluginNotFound = "plugins.not_found", NOT_FOUND,
        "No plugin has this id.";
    PluginUnknownService = "plugins.unknown_service", NOT_FOUND,
        "The plugin offers no service of this name (`getPlugins` lists them).";
    PluginInvalidSettings = "plugins.invalid_settings", UNPROCESSABLE_ENTITY,
        "The plugin settings do not validate; nothing was changed. `params.reason` says why.";
    PluginInvalidArgs = "plugins.invalid_args", UNPROCESSABLE_ENTITY,
        "The service's arguments are missing or wrong. `params.reason` says why.";
    CaptureAlreadyRunning = "capture.already_running", CONFLICT,
        "A capture is running and concurrentCaptures is off.";
    CaptureIdle = "capture.idle", CONFLICT,
        "The action needs a running capture and there is none.";
    CaptureNotCapturing = "capture.not_capturing", CONFLICT,
        "The capture is not recording (pause, stop, marker and extend need capturing or paused).";
    CaptureNotPaused = "capture.not_paused", CONFLICT,
        "Resume needs a paused capture.";
    CaptureSessionRequired = "capture.session_required", CONFLICT,
        "Several captures run: name one with sessionID.";
    CaptureSessionNotFound = "capture.session_not_found", NOT_FOUND,
        "No capture session has this id.";
    CaptureNoStopTime = "capture.no_stop_time", CONFLICT,
        "extendCapture needs a capture that has a duration.";
    CaptureNoTemplate = "capture.no_template", UNPROCESSABLE_ENTITY,
        "The request names no template and the defaultTemplate setting is empty.";
    CaptureInvalidRequest = "capture.invalid_request", UNPROCESSABLE_ENTITY,
        "The capture request is out of bounds (`message` says which field).";
    CaptureInvalidMarker = "capture.invalid_marker", UNPROCESSABLE_ENTITY,
        "A marker's title must be 1 to 256 characters and its description at most 4,096. `params.field` names the field, `params.limit` its maximum.";
    CaptureTooManyMarkers = "capture.too_many_markers", CONFLICT,
        "The session already has 1,000 markers, the most one may have. `params.limit`.";
    CaptureDiskLow = "capture.disk_low", CONFLICT,
        "Free space (minus diskReserveMb) is below what the requested duration needs. `params.needed`, `params.usable`.";
    CapturePipelineFailed = "capture.pipeline_failed", SERVICE_UNAVAILABLE,
        "The media pipeline could not be built or started (a device or element failed); see `message`.";
    SessionNone = "session.none", NOT_FOUND,
        "No capture session exists (running or being processed).";
    PreviewNoSession = "preview.no_session", NOT_FOUND,
        "No capture is running, so there is no session picture.";
    PreviewUnavailable = "preview.unavailable", NOT_FOUND,
        "No picture or levels for this device or node (absent, wrong type, or nothing delivered yet).";
    PreviewRestarting = "preview.restarting", SERVICE_UNAVAILABLE,
        "The device's pipeline was replaced several times while the request waited for its picture (inputs being rebuilt); retry after `Retry-After` seconds.";
    EngineUnavailable = "engine.unavailable", SERVICE_UNAVAILABLE,
        "The capture engine is not running.";
    TemplateNotFound = "templates.not_found", NOT_FOUND,
        "No template has this id or name.";
    TemplateInvalid = "templates.invalid", UNPROCESSABLE_ENTITY,
        "The template or its graph does not validate. `params.node` and `params.option` locate the problem when one node is at fault; `params.limit` is set when the template is too large (64 nodes, 512 parent and child references, 128 KiB of JSON).";
    TemplateDuplicateName = "templates.duplicate_name", CONFLICT,
        "Another template has this name (`params.id`); names are references, so they stay unique ignoring case.";
    TemplateInUse = "templates.in_use", CONFLICT,
        "The template is used by a running capture (or a scheduled event).";
    PackageNotFound = "packages.not_found", NOT_FOUND,
        "No media package has this id.";
    PackageBusy = "packages.busy", CONFLICT,
        "The media package is being recorded or processed.";
    PackageBadPath = "packages.bad_path", BAD_REQUEST,
        "A file name that is not a file inside the package (absolute, `..`, or a link leading out).";
    PackageNoOutput = "packages.no_output", NOT_FOUND,
        "The package has no output of this name.";
    PackageInvalid = "packages.invalid", UNPROCESSABLE_ENTITY,
        "The package update does not validate.";
    ScheduleNotFound = "schedule.not_found", NOT_FOUND,
        "No scheduled event has this id.";
    ScheduleGroupNotFound = "schedule.group_not_found", NOT_FOUND,
        "No recurring group has this id.";
    ScheduleInvalid = "schedule.invalid", UNPROCESSABLE_ENTITY,
        "The event or group breaks a rule (window, length, template, rule, zone). `params.field` names it, `params.reason` says why.";
    ScheduleOverlap = "schedule.overlap", CONFLICT,
        "The window overlaps another event and concurrentCaptures is off. `params.eventID`, `params.title`, `params.startTime`, `params.stopTime` describe the other event.";
    ScheduleRunning = "schedule.event_running", CONFLICT,
        "The event is recording: only its stop time and descriptive fields can change.";
    ScheduleEnded = "schedule.event_ended", CONFLICT,
        "The event has ended (or its window passed): only descriptive fields can change.";
    CalendarInvalid = "calendar.invalid", UNPROCESSABLE_ENTITY,
        "The text is not an iCalendar document; nothing was imported. `params.reason` says why.";
    CalendarFetchFailed = "calendar.fetch_failed", BAD_GATEWAY,
        "The calendar URL could not be fetched: unreachable, an error status, too large, or a loopback, private or link-local address the `calendarImportAllowedHosts` setting does not allow. The answer is the same whatever the cause (the unit's log has it); nothing was imported.";
    GraphNotFound = "graph.not_found", NOT_FOUND,
        "No graph (being edited or saved) has this id.";
    GraphInvalid = "graph.invalid", UNPROCESSABLE_ENTITY,
        "The node or graph breaks a rule (bad id, unknown link, or, when a session starts, a whole-graph rule); the message says which.";
    GraphInvalidOption = "graph.invalid_option", UNPROCESSABLE_ENTITY,
        "A node option is unknown or invalid; `params.option` names it.";
    GraphCycle = "graph.cycle", CONFLICT,
        "The link would close a cycle; nothing changed.";
    GraphRoot = "graph.root", CONFLICT,
        "The graph's root node cannot be removed.";
    GraphIdTaken = "graph.id_taken", CONFLICT,
        "The graph id is already used.";
    GraphNodeNotFound = "graph.node_not_found", NOT_FOUND,
        "No running session of that graph (session id or template id) has this node.";
    GraphUnknownService = "graph.unknown_service", NOT_FOUND,
        "The node offers no such service; `rtmpOutput` nodes offer `enable`, `disable` and `stats`.";
    PublishUnknownPublisher = "publish.unknown_publisher", NOT_FOUND,
        "No publisher has this id. Publishers: `local`, `s3`, `flowcapture`, `opencast`.";
    PublishInvalidConfig = "publish.invalid_config", UNPROCESSABLE_ENTITY,
        "A publisher configuration is incomplete or invalid; `params.reason` names the field.";
    PublishJobNotFound = "publish.job_not_found", NOT_FOUND,
        "No publish job has this id.";
    PublishPackageNotReady = "publish.package_not_ready", CONFLICT,
        "The media package is still capturing or processing, or failed; only complete and partial packages are published.";
    PublishNothingToPublish = "publish.nothing_configured", CONFLICT,
        "The request names no publisher and none is configured (nor listed by the package's template).";
    PublishNotRetryable = "publish.not_retryable", CONFLICT,
        "Only queued, failed or cancelled jobs can be retried; running and done jobs stay as they are.";
    PublishInvalidOverrides = "publish.invalid_overrides", UNPROCESSABLE_ENTITY,
        "`publishingOverrides` is not an object keyed by publisher id (or a list of PublishPlatformConfiguration), or names no publisher; `params.reason`.";
    PublishOverrideForbidden = "publish.override_forbidden", FORBIDDEN,
        "`publishingOverrides` from a caller below Administrator sets a key only an Administrator may (`params.publisherID`, `params.key`; `params.allowed` lists the harmless ones).";
    PublishOutsideConfigured = "publish.outside_configured", FORBIDDEN,
        "A local `path` or an S3 `prefix` from a caller below Administrator is not the configured one or below it (or passes a link); `params.reason`.";
    PublishSecretRequired = "publish.secret_required", FORBIDDEN,
        "A caller below Administrator changes where a publisher connects (`params.changed`) without sending its secrets (`params.secrets`) again: stored secrets go only to the configured server.";
    PublishServiceFailed = "publish.service_failed", BAD_GATEWAY,
        "A publisher service could not get an answer from its target; `params.code` says why (`publish.unreachable`, `publish.auth_failed`, …).";
    MaintenanceCapturing = "maintenance.capturing", CONFLICT,
        "A capture runs and the maintenance action would end it; send `force=true` to stop and finalise it first. `params.sessions` lists them.";
    MaintenanceInProgress = "maintenance.in_progress", CONFLICT,
        "Another maintenance action (reboot, restart, restartMedia) is under way.";
    MaintenanceDisabled = "maintenance.disabled", CONFLICT,
        "The unit's configuration leaves this action out (its command is empty).";
    SpeakerNotFound = "speakers.not_found", NOT_FOUND,
        "No speaker has this id.";
    SpeakerUnknownReference = "speakers.unknown_reference", UNPROCESSABLE_ENTITY,
        "A `speaker` in a capture request, event, group or media package names an id or name no speaker has. `params.reference` repeats it.";
    SpeakerInvalid = "speakers.invalid", UNPROCESSABLE_ENTITY,
        "The speaker does not validate (name required, email shape, links need http or https URLs, Asset and Link objects). `params.field` names the field, `params.reason` says why.";
    SpeakerDuplicateName = "speakers.duplicate_name", CONFLICT,
        "Another speaker has this name (names are compared ignoring case).";
    BackupInvalid = "backup.invalid", UNPROCESSABLE_ENTITY,
        "The upload is not a castd backup (no manifest, a member that is not a regular file, not a SQLite database, failed integrity check, missing tables); nothing was changed. `params.reason` says why.";
    BackupNewerSchema = "backup.newer_schema", UNPROCESSABLE_ENTITY,
        "The backup comes from a newer castd (its database schema is newer than this one's); nothing was changed. `params.schemaVersion`, `params.supported`.";
    BackupTooLarge = "backup.too_large", UNPROCESSABLE_ENTITY,
        "The archive's castd.db is larger than a restore unpacks: 1 GiB, or what the data directory can take while keeping 256 MiB free. `params.size`, `params.limit`; nothing was changed.";
    BackupCaptureRunning = "backup.capture_running", CONFLICT,
        "A restore is refused while a capture runs; stop it first. `params.sessions` lists them.";
    StoreBusy = "store.busy", SERVICE_UNAVAILABLE,
        "The database stayed locked for too long; retry.";
    Internal = "internal.error", INTERNAL_SERVER_ERROR,
        "An unexpected failure inside castd; the cause is in the unit's log.";
}

/// Body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
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
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub params: Map<String, Value>,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            params: Map::new(),
            retry_after_secs: None,
        }
    }

    /// Adds a parameter that locates or explains the error.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> ApiError {
        self.params.insert(key.to_string(), value.into());
        self
    }

    /// An internal failure: logs the cause once and answers without it.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        log::error!("internal error: {cause}");
        ApiError::new(ErrorCode::Internal, "internal error; see the unit's log")
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// Adds a `Retry-After` header of `secs` seconds.
    pub fn retry_after(mut self, secs: u64) -> ApiError {
        self.retry_after_secs = Some(secs);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = json!({
            "error": status.canonical_reason().unwrap_or("Error"),
            "code": self.code.as_str(),
            "message": self.message,
            "status_code": status.as_u16(),
            "params": self.params,
        });
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
            TemplateError::InUse(id, _) => {
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

/// The catalog as JSON for the OpenAPI document: code → {status, description}.
pub fn catalog() -> Value {
    let entries: Map<String, Value> = ErrorCode::ALL
        .iter()
        .map(|c| {
            (
                c.as_str().to_string(),
                json!({"status": c.status().as_u16(), "description": c.description()}),
            )
        })
        .collect();
    Value::Object(entries)
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

impl From<crate::maintenance::MaintenanceError> for ApiError {
    fn from(e: crate::maintenance::MaintenanceError) -> Self {
        use crate::maintenance::MaintenanceError;
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
}
