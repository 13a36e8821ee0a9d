//! The API error catalog: every code an error answer can carry, its HTTP status and what
//! it means, plus the two other vocabularies clients meet (alarm codes, publish failure
//! codes) as the OpenAPI document lists them. Definitions only: turning failures into
//! answers is `error`'s work.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::model::AlarmCode;
use crate::publish::FailureCode;

macro_rules! error_codes {
    ($($variant:ident = $code:literal, $status:ident, $doc:literal;)*) => {
        /// Stable machine-readable error codes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub(crate) enum ErrorCode { $($variant),* }

        impl ErrorCode {
            pub(crate) const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            pub(crate) fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),* }
            }

            pub(crate) fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status),* }
            }

            /// When a client sees this code, and what it means.
            pub(crate) fn description(self) -> &'static str {
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
    ScheduleOwnedByOpencast = "schedule.owned_by_opencast", CONFLICT,
        "The event (or group) comes from Opencast's calendar: change or delete it in Opencast, which this unit follows. `params.id` names it, `params.uid` is Opencast's event id.";
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
    OpencastInvalidConfig = "opencast.invalid_config", UNPROCESSABLE_ENTITY,
        "The Opencast configuration does not validate; `params.field` names the field, `params.reason` says why. Nothing was changed.";
    OpencastNotConfigured = "opencast.not_configured", CONFLICT,
        "The Opencast link needs a configuration first (`params.reason`: no url is set).";
    OpencastFailed = "opencast.failed", BAD_GATEWAY,
        "Opencast did not give the answer an agent needs; `params.code` says why: `opencast.unreachable`, `opencast.redirected` (credentials not taken: Basic must go up front, Digest needs an in-memory user), `opencast.unauthorized`, `opencast.forbidden`, `opencast.missing_role` (the user holds neither ROLE_CAPTURE_AGENT nor ROLE_ADMIN), `opencast.server_error`, `opencast.invalid_answer`.";
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

/// The catalog as JSON for the OpenAPI document: code → {status, description}.
pub(crate) fn catalog() -> Value {
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

/// A vocabulary as JSON for the OpenAPI document: code → {description}.
fn described(codes: impl Iterator<Item = (&'static str, &'static str)>) -> Value {
    let entries: Map<String, Value> = codes
        .map(|(code, description)| (code.to_string(), json!({"description": description})))
        .collect();
    Value::Object(entries)
}

/// The alarm codes clients see in the unit status and in `alarm` events.
pub(crate) fn alarm_catalog() -> Value {
    described(AlarmCode::ALL.iter().map(|c| (c.as_str(), c.description())))
}

/// The publish failure codes clients see as a job's `lastCode` and a test's `code`.
pub(crate) fn failure_catalog() -> Value {
    described(
        FailureCode::ALL
            .iter()
            .map(|c| (c.as_str(), c.description())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_every_alarm_and_failure_code() {
        let alarms = alarm_catalog();
        assert_eq!(alarms.as_object().unwrap().len(), AlarmCode::ALL.len());
        assert!(alarms["source.lost"]["description"].is_string());
        let failures = failure_catalog();
        assert_eq!(failures.as_object().unwrap().len(), FailureCode::ALL.len());
        assert!(failures["publish.cancelled"]["description"].is_string());
    }
}
