//! Scheduled captures: events, recurring groups, and calendar import reports.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// What became of a scheduled capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Not due yet.
    Pending,
    /// Recording now.
    Recording,
    /// Recorded from start to stop.
    Completed,
    /// Recorded in part (started late, interrupted, or stopped early).
    Partial,
    /// Its whole window passed without castd running.
    Missed,
    /// It could not record (see `outcomeReason`, e.g. `busy`).
    Failed,
}

/// A scheduled capture (CaptureCast Event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(rename = "groupID", default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Template id or name; stored as the id.
    #[serde(rename = "templateID", default)]
    pub template_id: String,
    /// Milliseconds since the epoch.
    pub start_time: i64,
    pub stop_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub speaker: Option<Value>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Whether the capture started.
    #[serde(default)]
    pub started: bool,
    /// Whether the capture ended.
    #[serde(default)]
    pub completed: bool,
    /// The (latest) media package recorded for this event.
    #[serde(
        rename = "mediaPackageID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub media_package_id: Option<String>,
    /// Every media package recorded for this event (more than one after an interruption).
    #[serde(
        rename = "mediaPackageIDs",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub media_package_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub assets: Vec<Value>,
    #[serde(default = "yes")]
    pub publishing: bool,
    #[serde(default)]
    pub publishing_redundant_copies: bool,
    #[serde(default)]
    pub publishing_speaker_files: bool,
    #[serde(default)]
    pub publishing_speaker_information: bool,
    #[serde(default)]
    pub publishing_table_of_contents: bool,
    #[serde(default = "pending")]
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome_reason: Option<String>,
    /// The UID of the iCalendar event this one was imported from.
    #[serde(rename = "icalUID", default, skip_serializing_if = "Option::is_none")]
    pub ical_uid: Option<String>,
}

fn yes() -> bool {
    true
}

fn pending() -> Outcome {
    Outcome::Pending
}

/// A recurring series of captures (CaptureCast EventGroup).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventGroup {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(rename = "templateID", default)]
    pub template_id: String,
    /// IANA time zone the rule is expanded in; the unit's `timezone` setting when absent.
    #[serde(default)]
    pub timezone: String,
    /// RFC 5545 recurrence rule, e.g. `FREQ=WEEKLY;BYDAY=TU;COUNT=14`.
    pub rrule: String,
    /// Start of the first occurrence, ms since the epoch.
    pub start_time: i64,
    /// Length of each occurrence in ms.
    pub duration: i64,
    /// Start times (ms) of occurrences that do not take place.
    #[serde(default)]
    pub exceptions: Vec<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub speaker: Option<Value>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default = "yes")]
    pub publishing: bool,
    /// The UID of the iCalendar series this group was imported from.
    #[serde(rename = "icalUID", default, skip_serializing_if = "Option::is_none")]
    pub ical_uid: Option<String>,
    /// The group's events (filled in answers).
    #[serde(default)]
    pub events: Vec<Event>,
}

/// What a calendar import did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    /// Ids of the events (`ev-…`) and recurring groups (`grp-…`) created.
    pub created: Vec<String>,
    /// Ids of those that existed and changed.
    pub updated: Vec<String>,
    /// Ids of those that existed as they are in the calendar.
    pub unchanged: Vec<String>,
    /// Entries left out, with the reason.
    pub skipped: Vec<Skipped>,
}

/// An imported calendar entry that was left out, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Skipped {
    pub uid: String,
    pub reason: String,
}
