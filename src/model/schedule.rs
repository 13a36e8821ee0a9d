//! Scheduled captures: events, recurring groups, and calendar import reports.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::speaker::no_speaker;

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
    /// At most 256 characters, no control characters (trimmed); the template's name when
    /// blank.
    #[serde(default)]
    pub title: String,
    /// The recurring group the event belongs to; `null` for a single event.
    #[serde(rename = "groupID", default)]
    pub group_id: Option<String>,
    /// Template id or name; stored as the id.
    #[serde(rename = "templateID", default)]
    pub template_id: String,
    /// Milliseconds since the epoch.
    pub start_time: i64,
    pub stop_time: i64,
    /// The speaker's id; 0 when there is none or the speaker is an inline one (see
    /// `speakerInfo`). Sent: also a speaker name or a Speaker object; `0`, `null` or `""`
    /// mean no speaker.
    #[serde(default = "no_speaker")]
    #[schema(value_type = i64)]
    pub speaker: Value,
    /// The whole speaker as it was when the event took it (`null` when none). Sent back
    /// with the `speaker` it belongs to, it is kept as it is (a GET → POST round trip
    /// changes nothing); with another `speaker` it is ignored.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub speaker_info: Option<Value>,
    /// At most 50 tags of 1 to 64 characters, no control characters (trimmed; blank ones
    /// and repeats in a row dropped).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Whether the capture started.
    #[serde(default)]
    pub started: bool,
    /// Whether the capture ended.
    #[serde(default)]
    pub completed: bool,
    /// The (latest) media package recorded for this event; `null` before it recorded.
    #[serde(rename = "mediaPackageID", default)]
    pub media_package_id: Option<String>,
    /// Every media package recorded for this event (more than one after an interruption).
    #[serde(
        rename = "mediaPackageIDs",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub media_package_ids: Vec<String>,
    /// Assets and Links (speaker files) for the recording.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub assets: Vec<Value>,
    /// Publish the recording as its template says (default true).
    #[serde(default = "yes")]
    pub publishing: bool,
    /// Publish source copies too (default true).
    #[serde(default = "yes")]
    pub publishing_redundant_copies: bool,
    /// Publish the assets (default true).
    #[serde(default = "yes")]
    pub publishing_speaker_files: bool,
    /// Publish the speaker's information and image (default true).
    #[serde(default = "yes")]
    pub publishing_speaker_information: bool,
    /// Publish the table of contents (markers) (default true).
    #[serde(default = "yes")]
    pub publishing_table_of_contents: bool,
    #[serde(default = "pending")]
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome_reason: Option<String>,
    /// The UID of the iCalendar event this one was imported from.
    #[serde(rename = "icalUID", default, skip_serializing_if = "Option::is_none")]
    pub ical_uid: Option<String>,
    /// Set when the event comes from Opencast's calendar (capture-agent mode): such an
    /// event is Opencast's to change, and its recording is ingested into that Opencast
    /// event. Never taken from a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opencast: Option<OpencastEvent>,
}

/// What castd keeps of an Opencast event beside the times and title it schedules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpencastEvent {
    /// The event's UID: its media package id and the workflow instance id of its ingest.
    #[serde(rename = "uid")]
    pub uid: String,
    /// The workflow definition to ingest with (`org.opencastproject.workflow.definition`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// Workflow configuration (`org.opencastproject.workflow.config.*`, prefix cut off).
    #[serde(default)]
    pub workflow_config: BTreeMap<String, String>,
    /// The inputs Opencast selected (`capture.device.names`); none selected means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<BTreeSet<String>>,
}

/// The vendor's default of every publishing flag.
pub(crate) fn yes() -> bool {
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
    /// As in Event: the speaker's id, 0 when none or inline.
    #[serde(default = "no_speaker")]
    #[schema(value_type = i64)]
    pub speaker: Value,
    /// As in Event: the whole speaker its events take.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub speaker_info: Option<Value>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The publishing flags its events take (each default true).
    #[serde(default = "yes")]
    pub publishing: bool,
    #[serde(default = "yes")]
    pub publishing_redundant_copies: bool,
    #[serde(default = "yes")]
    pub publishing_speaker_files: bool,
    #[serde(default = "yes")]
    pub publishing_speaker_information: bool,
    #[serde(default = "yes")]
    pub publishing_table_of_contents: bool,
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
