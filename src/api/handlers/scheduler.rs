//! The `scheduler` group: events, recurring groups, iCalendar export and import; and
//! today's schedule for the status panel.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::api::error::{ApiError, ErrorCode};
use crate::api::params::{Form, PathParam, Query};
use crate::daemon::Daemon;
use crate::model::{Event, EventGroup, ImportReport};
use crate::scheduler::EventFilter;

/// Parameters of scheduleCapture.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct EventForm {
    pub event: Event,
}

/// Schedule a capture
///
/// `templateID` takes a template id or name (stored as the id; empty means the
/// `defaultTemplate` setting). The window must end in the future and last 1 minute to
/// 24 hours. An event whose window overlaps another pending or recording event is refused with
/// 409 `schedule.overlap` naming it, unless `concurrentCaptures` is on. A client may choose
/// the id (`ev-` followed by lowercase letters, digits and dashes) when it is free.
/// `speaker` may be a speaker id, a speaker name or an inline Speaker object (`0`, `null`
/// or `""`: no speaker); the event answers the id in `speaker` (0 when none or inline) and
/// keeps the whole speaker as it is now in `speakerInfo`, and so does the media package the
/// event records (a name no speaker has is an inline speaker; 422
/// `speakers.unknown_reference` for an unknown id). The publishing flags default to true.
#[utoipa::path(post, path = "/scheduler/events", tag = "scheduler", operation_id = "scheduleCapture",
    request_body(content = EventForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = Event)))]
pub(crate) async fn schedule_capture(
    State(daemon): State<Daemon>,
    Form(form): Form<EventForm>,
) -> Result<(StatusCode, Json<Event>), ApiError> {
    let event = daemon.schedule_capture(form.event).await?;
    Ok((StatusCode::CREATED, Json(event)))
}

/// Parameters of updateEvent.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct EventPatch {
    /// The fields to change; fields not named keep their value. `started`, `completed`,
    /// `mediaPackageID`, `outcome` and `groupID` are castd's and ignored.
    #[schema(value_type = Object)]
    pub event: Map<String, Value>,
}

/// Change a scheduled event
///
/// A pending event changes freely within the rules of scheduleCapture. While it records,
/// only its stop time (the capture follows) and descriptive fields change (409
/// `schedule.event_running`); once ended, only descriptive fields (409
/// `schedule.event_ended`).
#[utoipa::path(post, path = "/scheduler/events/{id}", tag = "scheduler", operation_id = "updateEvent",
    params(("id" = String, Path)),
    request_body(content = EventPatch, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Event)))]
pub(crate) async fn update_event(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
    Form(form): Form<EventPatch>,
) -> Result<Json<Event>, ApiError> {
    Ok(Json(daemon.update_event(&id, form.event).await?))
}

/// One scheduled event
///
/// With its outcome and the media package(s) it recorded.
#[utoipa::path(get, path = "/scheduler/events/{id}", tag = "scheduler", operation_id = "getEvent",
    params(("id" = String, Path)),
    responses((status = 200, body = Event)))]
pub(crate) async fn get_event(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
) -> Result<Json<Event>, ApiError> {
    Ok(Json(daemon.scheduler().get_event(&id).await?))
}

/// Filters and paging of getEvents.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// Only events whose window ends after this time (ms since the epoch).
    pub start: Option<i64>,
    /// Only events whose window starts before this time.
    pub end: Option<i64>,
    #[serde(rename = "templateID")]
    #[param(rename = "templateID")]
    pub template_id: Option<String>,
    #[serde(rename = "groupID")]
    #[param(rename = "groupID")]
    pub group_id: Option<String>,
    /// At most this many (default 500, at most 5000).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Scheduled events
///
/// By start time. The total number matching is in the `X-Total-Count` header.
#[utoipa::path(get, path = "/scheduler/events", tag = "scheduler", operation_id = "getEvents",
    params(EventsQuery),
    responses((status = 200, body = Vec<Event>, headers(("X-Total-Count" = i64)))))]
pub(crate) async fn get_events(
    State(daemon): State<Daemon>,
    Query(q): Query<EventsQuery>,
) -> Result<(HeaderMap, Json<Vec<Event>>), ApiError> {
    let filter = EventFilter {
        start: q.start,
        end: q.end,
        // Names are accepted like everywhere else; events store the id.
        template: q.template_id,
        group: q.group_id,
        limit: q.limit.unwrap_or(500).clamp(1, 5000),
        offset: q.offset.unwrap_or(0).max(0),
    };
    let (events, total) = daemon.list_events(filter).await?;
    let mut headers = HeaderMap::new();
    headers.insert("x-total-count", HeaderValue::from(total));
    Ok((headers, Json(events)))
}

/// Delete a scheduled event
///
/// A capture of it that is running is stopped first; media packages it recorded stay.
#[utoipa::path(delete, path = "/scheduler/events/{id}", tag = "scheduler", operation_id = "deleteEvent",
    params(("id" = String, Path)),
    responses((status = 204)))]
pub(crate) async fn delete_event(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    daemon.scheduler().delete_event(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Parameters of scheduleGroup.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct GroupForm {
    pub group: EventGroup,
}

/// Schedule a recurring series
///
/// `rrule` is an RFC 5545 recurrence rule (e.g. `FREQ=WEEKLY;BYDAY=TU;COUNT=14`) expanded
/// in `timezone` (IANA; the unit's `timezone` setting when empty) from `startTime`, so a
/// 10:00 lecture stays at 10:00 local time across daylight-saving changes. `exceptions`
/// lists occurrence start times (ms) left out. Open-ended rules are expanded 400 days
/// ahead (at most 1000 occurrences). Each occurrence becomes an event, checked like
/// scheduleCapture; occurrences that already ended are not generated.
#[utoipa::path(post, path = "/scheduler/groups", tag = "scheduler", operation_id = "scheduleGroup",
    request_body(content = GroupForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = EventGroup)))]
pub(crate) async fn schedule_group(
    State(daemon): State<Daemon>,
    Form(form): Form<GroupForm>,
) -> Result<(StatusCode, Json<EventGroup>), ApiError> {
    let group = daemon.schedule_group(form.group).await?;
    Ok((StatusCode::CREATED, Json(group)))
}

/// Parameters of updateGroup.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct GroupPatch {
    /// The fields to change; fields not named keep their value.
    #[schema(value_type = Object)]
    pub group: Map<String, Value>,
}

/// Change a recurring series
///
/// Its future pending events are generated again (an occurrence whose start did not move
/// keeps its event id); events that started or ended stay as they are, with their media
/// packages.
#[utoipa::path(post, path = "/scheduler/groups/{id}", tag = "scheduler", operation_id = "updateGroup",
    params(("id" = String, Path)),
    request_body(content = GroupPatch, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = EventGroup)))]
pub(crate) async fn update_group(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
    Form(form): Form<GroupPatch>,
) -> Result<Json<EventGroup>, ApiError> {
    Ok(Json(daemon.update_group(&id, form.group).await?))
}

/// All recurring series, with their events
///
/// By the start of their first occurrence.
#[utoipa::path(get, path = "/scheduler/groups", tag = "scheduler", operation_id = "getGroups",
    responses((status = 200, body = Vec<EventGroup>)))]
pub(crate) async fn get_groups(
    State(daemon): State<Daemon>,
) -> Result<Json<Vec<EventGroup>>, ApiError> {
    Ok(Json(daemon.scheduler().list_groups().await?))
}

/// One recurring series, with its events
#[utoipa::path(get, path = "/scheduler/groups/{id}", tag = "scheduler", operation_id = "getGroup",
    params(("id" = String, Path)),
    responses((status = 200, body = EventGroup)))]
pub(crate) async fn get_group(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
) -> Result<Json<EventGroup>, ApiError> {
    Ok(Json(daemon.scheduler().get_group(&id).await?))
}

/// The events of a recurring series
#[utoipa::path(get, path = "/scheduler/groups/{id}/events", tag = "scheduler", operation_id = "getGroupEvents",
    params(("id" = String, Path)),
    responses((status = 200, body = Vec<Event>)))]
pub(crate) async fn get_group_events(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
) -> Result<Json<Vec<Event>>, ApiError> {
    Ok(Json(daemon.scheduler().get_group(&id).await?.events))
}

/// Delete a recurring series
///
/// All its events go; a running capture of one is stopped first. Media packages stay.
#[utoipa::path(delete, path = "/scheduler/groups/{id}", tag = "scheduler", operation_id = "deleteGroup",
    params(("id" = String, Path)),
    responses((status = 204)))]
pub(crate) async fn delete_group(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    daemon.scheduler().delete_group(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The schedule as iCalendar
///
/// RFC 5545: one VEVENT per event, UID = event id, DTSTART/DTEND in UTC, SUMMARY, the tags
/// as CATEGORIES, and the template in `X-CASTD-TEMPLATE`.
#[utoipa::path(get, path = "/scheduler/calendar.ics", tag = "scheduler", operation_id = "exportCalendar",
    responses((status = 200, description = "iCalendar", content_type = "text/calendar")))]
pub(crate) async fn export_calendar(
    State(daemon): State<Daemon>,
) -> Result<impl IntoResponse, ApiError> {
    let text = daemon.scheduler().export().await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"schedule.ics\"",
            ),
        ],
        text,
    ))
}

/// Parameters of importCalendar: one of the two.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct ImportForm {
    /// The iCalendar text.
    pub ics: Option<String>,
    /// Where to fetch it: http, https or webcal. Only public addresses, unless the
    /// `calendarImportAllowedHosts` setting names the host.
    pub url: Option<String>,
}

/// Import a calendar
///
/// Every VEVENT becomes an event (with an RRULE, a recurring group), identified by its UID:
/// importing the same calendar again updates, never duplicates. Times with a TZID are read
/// in that zone, floating times in the unit's. The template comes from `X-CASTD-TEMPLATE`
/// or the `defaultTemplate` setting. Entries that cannot be recordings (all-day, ended,
/// overlapping, too short) are skipped with the reason; a document that is not iCalendar is
/// refused whole (422 `calendar.invalid`) and nothing is imported.
///
/// A `url` is fetched (redirects included, at most 5, 30 s and 4 MiB in all) only from
/// public addresses: loopback, private (RFC 1918, fc00::/7), shared (100.64/10),
/// link-local, multicast and reserved addresses are refused after the name is resolved and
/// on every redirect, unless the `calendarImportAllowedHosts` setting names the host. Any
/// failure to fetch answers the same 502 `calendar.fetch_failed`; the reason is logged.
#[utoipa::path(post, path = "/scheduler/calendar", tag = "scheduler", operation_id = "importCalendar",
    request_body(content = ImportForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = ImportReport)))]
pub(crate) async fn import_calendar(
    State(daemon): State<Daemon>,
    Form(form): Form<ImportForm>,
) -> Result<Json<ImportReport>, ApiError> {
    let report = match (form.ics, form.url) {
        (Some(ics), None) => daemon.scheduler().import(&ics).await?,
        (None, Some(url)) => daemon.scheduler().import_url(&url).await?,
        (Some(_), Some(_)) => {
            return Err(
                ApiError::new(ErrorCode::BadParam, "send either ics or url, not both")
                    .with("param", "url"),
            );
        }
        (None, None) => {
            return Err(ApiError::new(
                ErrorCode::MissingParam,
                "send the calendar as ics or its url",
            )
            .with("param", "ics"));
        }
    };
    Ok(Json(report))
}

/// Today's schedule
///
/// Events from local midnight to midnight in the unit's time zone, by start time.
#[utoipa::path(get, path = "/status/schedule", tag = "status", operation_id = "getTodaysSchedule",
    responses((status = 200, body = Vec<Event>)))]
pub(crate) async fn get_todays_schedule(
    State(daemon): State<Daemon>,
) -> Result<Json<Vec<Event>>, ApiError> {
    Ok(Json(daemon.scheduler().today().await?))
}
