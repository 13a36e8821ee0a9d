//! The schedule's rules: what makes an event or a group valid, when two events conflict,
//! how a group becomes events, and what a change may still touch once an event began.
//!
//! Every function here runs inside one store transaction, so a refused change writes
//! nothing; the caller reads the settings the rules need beforehand ([`Rules`]).

use rusqlite::Connection;
use serde_json::{Map, Value};

use super::recurrence;
use crate::model::{Event, EventGroup, EventId, GroupId, Outcome, RuleBroken, Tags, Title};
use crate::store::{self, StoreError};

/// A scheduled capture lasts at least ten seconds (a technician's test of the schedule)...
pub(crate) const MIN_LENGTH_MS: i64 = 10_000;
/// ...and at most a day.
pub(crate) const MAX_LENGTH_MS: i64 = 86_400_000;
/// Times end with the year 9999: later ones cannot be written as iCalendar dates or
/// ISO 8601 times, so an event there could be neither exported nor shown.
pub(crate) const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// What the rules depend on besides the stored schedule.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub now: i64,
    /// Setting `concurrentCaptures`: overlapping events are allowed.
    pub concurrent: bool,
    /// The unit's IANA time zone (setting `timezone`).
    pub timezone: String,
    /// Setting `defaultTemplate`, for events that name none.
    pub default_template: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("no scheduled event {0:?}")]
    NotFound(EventId),
    #[error("no event group {0:?}")]
    GroupNotFound(GroupId),
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("overlaps event {} ({:?}, {} to {})", .other.id, .other.title, iso(&.other.start_time), iso(&.other.stop_time))]
    Overlap { other: Box<Event> },
    #[error("event {0} is recording: only its stop time and descriptive fields can change")]
    Running(String),
    #[error("event {0} has ended: only descriptive fields can change")]
    Ended(String),
    #[error("event {id} comes from Opencast (event {uid}): change it in Opencast")]
    OwnedByOpencast { id: EventId, uid: String },
    #[error("invalid iCalendar: {0}")]
    Calendar(String),
    #[error("cannot fetch the calendar: {0}")]
    Fetch(String),
    #[error(transparent)]
    Capture(#[from] crate::engine::CaptureError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ScheduleError {
    fn from(e: rusqlite::Error) -> Self {
        ScheduleError::Store(e.into())
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> ScheduleError {
    ScheduleError::Invalid {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// An instant as ISO 8601 UTC, for messages.
pub(crate) fn iso(ms: &i64) -> String {
    chrono::DateTime::from_timestamp_millis(*ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

pub(crate) fn new_event_id() -> String {
    format!("ev-{:016x}", rand::random::<u64>())
}

pub(crate) fn new_group_id() -> String {
    format!("grp-{:016x}", rand::random::<u64>())
}

/// Whether `id` has the form castd gives event (`ev-…`) or group (`grp-…`) ids.
pub(crate) fn is_schedule_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 60
            && rest
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    })
}

/// Fields only castd writes: a client's values for them are ignored.
const SERVER_OWNED: &[&str] = &[
    "id",
    "groupID",
    "started",
    "completed",
    "mediaPackageID",
    "mediaPackageIDs",
    "outcome",
    "outcomeReason",
    "icalUID",
    "opencast",
    "events",
];

/// `base` with the fields named in `patch` replaced, except server-owned ones.
#[expect(
    clippy::expect_used,
    reason = "invariant: schedule objects are objects; schedule objects serialise"
)]
fn merged<T: serde::Serialize + serde::de::DeserializeOwned>(
    base: &T,
    patch: &Map<String, Value>,
    what: &str,
) -> Result<T, ScheduleError> {
    let mut value = serde_json::to_value(base).expect("schedule objects serialise");
    let object = value.as_object_mut().expect("schedule objects are objects");
    for (key, v) in patch {
        if !SERVER_OWNED.contains(&key.as_str()) {
            object.insert(key.clone(), v.clone());
        }
    }
    let text = value.to_string();
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        invalid(
            if path == "." { what } else { &path },
            e.inner().to_string(),
        )
    })
}

/// The template id for `key` (an id or a name), or the default template when empty.
fn template_id(
    conn: &Connection,
    key: &str,
    rules: &Rules,
) -> Result<(String, String), ScheduleError> {
    let key = key.trim();
    let key = if key.is_empty() {
        rules
            .default_template
            .clone()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                invalid(
                    "templateID",
                    "no templateID given and no defaultTemplate set",
                )
            })?
    } else {
        key.to_string()
    };
    match store::templates::find(conn, &key)? {
        Some(t) => Ok((t.id, t.name)),
        None => Err(invalid(
            "templateID",
            format!("no template has the id or name {key:?}"),
        )),
    }
}

/// The event's title, trimmed; a blank one takes `fallback` (the template's name).
fn check_title(title: &mut String, fallback: &str) -> Result<(), ScheduleError> {
    *title = title.trim().to_string();
    if title.is_empty() {
        *title = fallback.to_string();
    }
    Title::try_from(title.as_str()).map_err(broken)?;
    Ok(())
}

/// The event's tags, each trimmed, blank ones dropped and repeats in a row kept once (a
/// calendar's CATEGORIES often carry both), then held to the tags' rule.
fn check_tags(tags: &mut Vec<String>) -> Result<(), ScheduleError> {
    for tag in tags.iter_mut() {
        *tag = tag.trim().to_string();
    }
    tags.retain(|t| !t.is_empty());
    tags.dedup();
    Tags::try_from(std::mem::take(tags))
        .map(|checked| *tags = checked.into_vec())
        .map_err(broken)
}

fn broken(e: RuleBroken) -> ScheduleError {
    invalid(e.field, e.rule)
}

fn check_length(field: &str, length: i64) -> Result<(), ScheduleError> {
    if !(MIN_LENGTH_MS..=MAX_LENGTH_MS).contains(&length) {
        return Err(invalid(
            field,
            format!(
                "a scheduled capture lasts 10 seconds to 24 hours; this one lasts {} s",
                length / 1000
            ),
        ));
    }
    Ok(())
}

/// Title, template, tags and window of an event; the template is stored by id.
fn check_event(conn: &Connection, e: &mut Event, rules: &Rules) -> Result<(), ScheduleError> {
    let (id, name) = template_id(conn, &e.template_id, rules)?;
    e.template_id = id;
    check_title(&mut e.title, &name)?;
    check_tags(&mut e.tags)?;
    if e.start_time <= 0 || e.start_time > MAX_TIME_MS {
        return Err(invalid(
            "startTime",
            "a time in ms since the epoch, before the year 10000",
        ));
    }
    if e.stop_time <= e.start_time {
        return Err(invalid("stopTime", "must be after startTime"));
    }
    if e.stop_time > MAX_TIME_MS {
        return Err(invalid("stopTime", "must be before the year 10000"));
    }
    check_length("stopTime", e.stop_time - e.start_time)
}

/// An Opencast event's fields, held to the same rules, except that a title Opencast allows
/// and castd does not (longer, or with line breaks) is made to fit rather than refused:
/// refusing it would lose the lecture over its name.
pub(crate) fn check_opencast_event(
    conn: &Connection,
    e: &mut Event,
    rules: &Rules,
) -> Result<(), ScheduleError> {
    e.title = fit_title(&e.title);
    check_event(conn, e, rules)
}

/// A title that keeps to the title rule: control characters become spaces, and it is cut
/// at [`crate::model::text::MAX_TITLE_CHARS`] characters.
pub(crate) fn fit_title(title: &str) -> String {
    title
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(crate::model::text::MAX_TITLE_CHARS)
        .collect()
}

pub(crate) fn invalid_event(reason: impl Into<String>) -> ScheduleError {
    invalid("event", reason)
}

/// Refuses a window that overlaps another pending or recording event (unless concurrent
/// captures are on). Ended events free their window.
fn check_overlap(conn: &Connection, e: &Event, rules: &Rules) -> Result<(), ScheduleError> {
    if rules.concurrent {
        return Ok(());
    }
    let others =
        store::schedule::overlapping(conn, e.start_time, e.stop_time, std::slice::from_ref(&e.id))?;
    match others.into_iter().next() {
        Some(other) => Err(ScheduleError::Overlap {
            other: Box::new(other),
        }),
        None => Ok(()),
    }
}

/// Opencast's events are Opencast's to change: the API refuses to change or delete them.
pub(crate) fn refuse_if_opencast(e: &Event) -> Result<(), ScheduleError> {
    match &e.opencast {
        Some(link) => Err(ScheduleError::OwnedByOpencast {
            id: EventId::from(e.id.as_str()),
            uid: link.uid.clone(),
        }),
        None => Ok(()),
    }
}

/// Resets what only castd writes, for a new event.
fn fresh(e: &mut Event) {
    e.started = false;
    e.completed = false;
    e.media_package_id = None;
    e.media_package_ids.clear();
    e.outcome = Outcome::Pending;
    e.outcome_reason = None;
    // Only the Opencast calendar makes Opencast events.
    e.opencast = None;
}

/// Stores a new event. A client may choose its id (`ev-` and lowercase letters, digits
/// and dashes) when no event has it yet; otherwise one is made.
pub(crate) fn create_event(
    conn: &Connection,
    mut e: Event,
    rules: &Rules,
) -> Result<Event, ScheduleError> {
    if !is_schedule_id(&e.id, "ev-") || store::schedule::get_event(conn, &e.id)?.is_some() {
        e.id = new_event_id();
    }
    e.group_id = None;
    fresh(&mut e);
    check_event(conn, &mut e, rules)?;
    if e.stop_time <= rules.now {
        return Err(invalid(
            "stopTime",
            format!("the window ended already ({})", iso(&e.stop_time)),
        ));
    }
    check_overlap(conn, &e, rules)?;
    store::schedule::put_event(conn, &e)?;
    Ok(e)
}

/// What an update asks of a running capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Follow {
    Nothing,
    /// The event is recording and its stop time moved.
    MoveStop(i64),
}

/// Changes an event. Pending events change freely (within the rules); a recording one may
/// move its stop time; an ended one keeps its times and template.
pub(crate) fn update_event(
    conn: &Connection,
    id: &str,
    patch: &Map<String, Value>,
    rules: &Rules,
) -> Result<(Event, Follow), ScheduleError> {
    let old =
        store::schedule::get_event(conn, id)?.ok_or_else(|| ScheduleError::NotFound(id.into()))?;
    refuse_if_opencast(&old)?;
    let mut e: Event = merged(&old, patch, "event")?;
    check_event(conn, &mut e, rules)?;
    let moved = e.start_time != old.start_time || e.stop_time != old.stop_time;
    let follow = match old.outcome {
        Outcome::Pending => {
            if moved && e.stop_time <= rules.now {
                return Err(invalid("stopTime", "the new window ended already"));
            }
            Follow::Nothing
        }
        Outcome::Recording => {
            if e.start_time != old.start_time || e.template_id != old.template_id {
                return Err(ScheduleError::Running(id.to_string()));
            }
            if e.stop_time == old.stop_time {
                Follow::Nothing
            } else {
                Follow::MoveStop(e.stop_time.max(rules.now))
            }
        }
        _ => {
            if moved || e.template_id != old.template_id {
                return Err(ScheduleError::Ended(id.to_string()));
            }
            Follow::Nothing
        }
    };
    if moved {
        check_overlap(conn, &e, rules)?;
    }
    store::schedule::put_event(conn, &e)?;
    Ok((e, follow))
}

/// The occurrences of a group and the checks on its fields.
fn check_group(
    conn: &Connection,
    g: &mut EventGroup,
    rules: &Rules,
) -> Result<Vec<i64>, ScheduleError> {
    let (id, name) = template_id(conn, &g.template_id, rules)?;
    g.template_id = id;
    check_title(&mut g.title, &name)?;
    check_tags(&mut g.tags)?;
    g.timezone = g.timezone.trim().to_string();
    if g.timezone.is_empty() {
        g.timezone = rules.timezone.clone();
    }
    if g.timezone.parse::<chrono_tz::Tz>().is_err() {
        return Err(invalid(
            "timezone",
            format!("{:?} is not an IANA time zone", g.timezone),
        ));
    }
    check_length("duration", g.duration)?;
    if g.start_time <= 0 || g.start_time > MAX_TIME_MS {
        return Err(invalid(
            "startTime",
            "a time in ms since the epoch, before the year 10000",
        ));
    }
    g.exceptions.sort_unstable();
    g.exceptions.dedup();
    let starts = recurrence::occurrences(&g.rrule, g.start_time, &g.timezone, &g.exceptions)
        .map_err(|e| invalid("rrule", e))?;
    if let Some(pair) = starts.windows(2).find(|w| w[1] - w[0] < g.duration) {
        return Err(invalid(
            "duration",
            format!(
                "occurrences at {} and {} would overlap",
                iso(&pair[0]),
                iso(&pair[1])
            ),
        ));
    }
    Ok(starts)
}

/// An occurrence of `g` starting at `start`.
#[expect(
    clippy::expect_used,
    reason = "invariant: a minimal event deserialises"
)]
fn occurrence(g: &EventGroup, id: String, start: i64) -> Event {
    let mut e: Event = serde_json::from_value(
        serde_json::json!({"startTime": start, "stopTime": start + g.duration}),
    )
    .expect("a minimal event deserialises");
    e.id = id;
    e.title = g.title.clone();
    e.group_id = Some(g.id.clone());
    e.template_id = g.template_id.clone();
    e.speaker = g.speaker.clone();
    e.speaker_info = g.speaker_info.clone();
    e.tags = g.tags.clone();
    e.publishing = g.publishing;
    e.publishing_redundant_copies = g.publishing_redundant_copies;
    e.publishing_speaker_files = g.publishing_speaker_files;
    e.publishing_speaker_information = g.publishing_speaker_information;
    e.publishing_table_of_contents = g.publishing_table_of_contents;
    e
}

/// Stores `g` and its occurrences that have not ended (past ones are not generated).
fn write_occurrences(
    conn: &Connection,
    g: &EventGroup,
    starts: &[i64],
    keep_ids: &std::collections::HashMap<i64, String>,
    rules: &Rules,
) -> Result<Vec<Event>, ScheduleError> {
    store::schedule::put_group(conn, g)?;
    let mut events = Vec::new();
    for &start in starts.iter().filter(|&&s| s > rules.now) {
        let id = keep_ids.get(&start).cloned().unwrap_or_else(new_event_id);
        let e = occurrence(g, id, start);
        check_overlap(conn, &e, rules)?;
        store::schedule::put_event(conn, &e)?;
        events.push(e);
    }
    Ok(events)
}

/// Stores a new group and generates its events.
pub(crate) fn create_group(
    conn: &Connection,
    mut g: EventGroup,
    rules: &Rules,
) -> Result<EventGroup, ScheduleError> {
    if g.id.is_empty()
        || !is_schedule_id(&g.id, "grp-")
        || store::schedule::get_group(conn, &g.id)?.is_some()
    {
        g.id = new_group_id();
    }
    g.events.clear();
    let starts = check_group(conn, &mut g, rules)?;
    if !starts.iter().any(|&s| s > rules.now) {
        return Err(invalid("rrule", "no occurrence starts after now"));
    }
    g.events = write_occurrences(conn, &g, &starts, &Default::default(), rules)?;
    Ok(g)
}

/// Changes a group: its future pending events are generated again (keeping the id of an
/// occurrence whose start did not move); events that started or ended are kept as they are.
pub(crate) fn update_group(
    conn: &Connection,
    id: &str,
    patch: &Map<String, Value>,
    rules: &Rules,
) -> Result<EventGroup, ScheduleError> {
    let old = store::schedule::get_group(conn, id)?
        .ok_or_else(|| ScheduleError::GroupNotFound(id.into()))?;
    let mut g: EventGroup = merged(&old, patch, "group")?;
    g.id = old.id.clone();
    g.events.clear();
    let starts = check_group(conn, &mut g, rules)?;
    let (existing, _) =
        store::schedule::list_events(conn, None, None, None, Some(id), i64::MAX, 0)?;
    let mut keep_ids = std::collections::HashMap::new();
    for e in existing {
        let future = e.outcome == Outcome::Pending && e.start_time > rules.now;
        if future {
            store::schedule::delete_event(conn, &e.id)?;
            keep_ids.insert(e.start_time, e.id);
        }
    }
    write_occurrences(conn, &g, &starts, &keep_ids, rules)?;
    g.events = group_events(conn, id)?;
    Ok(g)
}

pub(crate) fn group_events(conn: &Connection, id: &str) -> Result<Vec<Event>, ScheduleError> {
    Ok(store::schedule::list_events(conn, None, None, None, Some(id), i64::MAX, 0)?.0)
}

/// Every group with its events, by the start of their first occurrence.
pub(crate) fn list_groups(conn: &Connection) -> Result<Vec<EventGroup>, ScheduleError> {
    store::schedule::group_ids(conn)?
        .iter()
        .map(|id| get_group(conn, id))
        .collect()
}

pub(crate) fn get_group(conn: &Connection, id: &str) -> Result<EventGroup, ScheduleError> {
    let mut g = store::schedule::get_group(conn, id)?
        .ok_or_else(|| ScheduleError::GroupNotFound(id.into()))?;
    g.events = group_events(conn, id)?;
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Timelike};

    fn conn() -> Connection {
        let c = store::memory();
        let t: crate::model::Template =
            serde_json::from_str(include_str!("../../assets/templates/lecture.json")).unwrap();
        store::templates::put(&c, &t).unwrap();
        c
    }

    fn rules(now: i64) -> Rules {
        Rules {
            now,
            concurrent: false,
            timezone: "Europe/Berlin".into(),
            default_template: Some("lecture".into()),
        }
    }

    fn event(start: i64, stop: i64) -> Event {
        serde_json::from_value(
            serde_json::json!({"title": " Physics ", "startTime": start, "stopTime": stop}),
        )
        .unwrap()
    }

    const H: i64 = 3_600_000;

    #[test]
    fn events_are_validated_and_overlaps_name_the_other_event() {
        let c = conn();
        let r = rules(10 * H);
        let a = create_event(&c, event(11 * H, 12 * H), &r).unwrap();
        assert_eq!(
            (a.title.as_str(), a.template_id.as_str()),
            ("Physics", "lecture")
        );
        assert!(a.id.starts_with("ev-"));
        match create_event(&c, event(11 * H + 1, 13 * H), &r) {
            Err(ScheduleError::Overlap { other }) => assert_eq!(other.id, a.id),
            other => panic!("{other:?}"),
        }
        // Back to back is fine.
        create_event(&c, event(12 * H, 13 * H), &r).unwrap();
        let field = |res: Result<Event, ScheduleError>| match res {
            Err(ScheduleError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(create_event(&c, event(20 * H, 19 * H), &r)),
            "stopTime"
        );
        assert_eq!(
            field(create_event(&c, event(20 * H, 20 * H + 1000), &r)),
            "stopTime"
        );
        assert_eq!(
            field(create_event(&c, event(5 * H, 6 * H), &r)),
            "stopTime",
            "ended"
        );
        let mut unknown = event(30 * H, 31 * H);
        unknown.template_id = "nope".into();
        assert_eq!(field(create_event(&c, unknown, &r)), "templateID");
        let concurrent = Rules {
            concurrent: true,
            ..r
        };
        create_event(&c, event(11 * H, 12 * H), &concurrent).unwrap();
    }

    #[test]
    fn a_recording_event_may_only_move_its_stop_and_an_ended_one_keeps_its_times() {
        let c = conn();
        let mut e = create_event(&c, event(11 * H, 12 * H), &rules(10 * H)).unwrap();
        e.outcome = Outcome::Recording;
        store::schedule::put_event(&c, &e).unwrap();
        let patch = |v: serde_json::Value| v.as_object().unwrap().clone();
        let r = rules(11 * H + 5);
        let (_, follow) = update_event(
            &c,
            &e.id,
            &patch(serde_json::json!({"stopTime": 13 * H})),
            &r,
        )
        .unwrap();
        assert_eq!(follow, Follow::MoveStop(13 * H));
        assert!(matches!(
            update_event(
                &c,
                &e.id,
                &patch(serde_json::json!({"startTime": 11 * H + 60_000})),
                &r
            ),
            Err(ScheduleError::Running(_))
        ));
        let (renamed, _) = update_event(
            &c,
            &e.id,
            &patch(serde_json::json!({"title": "Renamed", "outcome": "missed"})),
            &r,
        )
        .unwrap();
        assert_eq!(
            (renamed.title.as_str(), renamed.outcome),
            ("Renamed", Outcome::Recording),
            "outcome is not the client's"
        );
    }

    #[test]
    fn a_group_update_regenerates_future_events_and_keeps_past_ones() {
        let c = conn();
        let tz = chrono_tz::Europe::Berlin;
        let first = tz
            .with_ymd_and_hms(2026, 3, 17, 10, 0, 0)
            .unwrap()
            .timestamp_millis();
        let g: EventGroup = serde_json::from_value(serde_json::json!({
            "title": "Mechanics", "rrule": "FREQ=WEEKLY;BYDAY=TU;COUNT=4", "startTime": first, "duration": 90 * 60_000
        }))
        .unwrap();
        let g = create_group(&c, g, &rules(first - H)).unwrap();
        assert_eq!(g.events.len(), 4);
        assert_eq!(g.timezone, "Europe/Berlin", "the unit's zone by default");
        for e in &g.events {
            assert_eq!(
                chrono::Utc
                    .timestamp_millis_opt(e.start_time)
                    .unwrap()
                    .with_timezone(&tz)
                    .hour(),
                10
            );
        }
        // The first two took place.
        for e in &g.events[..2] {
            let mut done = e.clone();
            done.outcome = Outcome::Completed;
            done.media_package_id = Some(format!("pkg-{}", e.id));
            store::schedule::put_event(&c, &done).unwrap();
        }
        let later = rules(g.events[2].start_time - H);
        let patch =
            serde_json::json!({"title": "Mechanics II", "exceptions": [g.events[3].start_time]});
        let updated = update_group(&c, &g.id, patch.as_object().unwrap(), &later).unwrap();
        assert_eq!(updated.events.len(), 3, "{:?}", updated.events);
        assert_eq!(
            updated.events[0].title, "Mechanics",
            "past events are kept as they were"
        );
        assert_eq!(
            updated.events[0].media_package_id.as_deref(),
            Some(format!("pkg-{}", g.events[0].id).as_str())
        );
        assert_eq!(updated.events[2].title, "Mechanics II");
        assert_eq!(
            updated.events[2].id, g.events[2].id,
            "an occurrence that did not move keeps its id"
        );
        // A group whose occurrences would overlap each other is refused.
        let bad: EventGroup = serde_json::from_value(serde_json::json!({
            "rrule": "FREQ=HOURLY;COUNT=3", "startTime": first + 100 * H, "duration": 2 * H
        }))
        .unwrap();
        assert!(
            matches!(create_group(&c, bad, &rules(first)), Err(ScheduleError::Invalid { field, .. }) if field == "duration")
        );
    }
}
