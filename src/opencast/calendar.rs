//! Opencast's calendar for this agent (`GET /recordings/calendars?agentid=…`): iCalendar
//! text from ical4j, read into the events castd should record.
//!
//! What Opencast writes: CRLF lines folded at 75 octets (a fold can fall right after a space
//! or inside a UTF-8 character, so unfolding removes exactly the line break and the one
//! blank after it and nothing else), one VEVENT per scheduled recording with `DTSTART`/
//! `DTEND` always in UTC, the recording's id in `UID`, and base64 attachments: the episode
//! and series Dublin Core catalogs and `org.opencastproject.capture.agent.properties`, whose
//! `key=value` lines are written without Java escaping (split at the first `=`, skip `#`
//! lines). The calendar also holds running events and events that ended up to an hour ago;
//! [`Calendar::to_record`] keeps those that have not ended. Reading changes nothing: the
//! caller decides what to store.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use chrono::{NaiveDateTime, TimeZone, Utc};

use crate::scheduler::ical::unescape;

/// The name of the agent-properties attachment.
pub const AGENT_PROPERTIES: &str = "org.opencastproject.capture.agent.properties";
/// The most one attachment may decode to; catalogs are a few KiB.
pub const ATTACHMENT_MAX: usize = 1024 * 1024;
/// The most events one calendar may hold (a year of lectures in one room is ~1,500).
pub const EVENTS_MAX: usize = 5_000;

const INPUTS_KEY: &str = "capture.device.names";
const WORKFLOW_KEY: &str = "org.opencastproject.workflow.definition";
const WORKFLOW_CONFIG_PREFIX: &str = "org.opencastproject.workflow.config.";

/// One scheduled recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarEvent {
    /// The recording's id (Opencast's media package id).
    pub uid: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub title: String,
    pub description: Option<String>,
    /// The agent name Opencast scheduled it on.
    pub location: Option<String>,
    /// The series id, when the event belongs to one.
    pub series: Option<String>,
    pub last_modified_ms: Option<i64>,
    pub properties: AgentProperties,
    /// The other attachments (Dublin Core catalogs), decoded.
    pub attachments: Vec<Attachment>,
}

/// An attachment of an event, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

/// The agent properties of one event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentProperties {
    /// The inputs chosen when the event was scheduled; `None` means all inputs (Opencast
    /// sends an empty or absent `capture.device.names` for that).
    pub inputs: Option<BTreeSet<String>>,
    /// `org.opencastproject.workflow.definition`.
    pub workflow: Option<String>,
    /// `org.opencastproject.workflow.config.*`, with the prefix cut off.
    pub workflow_config: BTreeMap<String, String>,
    /// Every property as sent.
    pub all: BTreeMap<String, String>,
}

/// An event the calendar holds but castd cannot record, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub uid: String,
    pub reason: String,
}

/// A parsed calendar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    pub events: Vec<CalendarEvent>,
    pub rejected: Vec<Rejected>,
}

impl Calendar {
    /// The events still to record (or still running) at `now_ms`, by start.
    pub fn to_record(&self, now_ms: i64) -> Vec<&CalendarEvent> {
        let mut events: Vec<&CalendarEvent> =
            self.events.iter().filter(|e| e.end_ms > now_ms).collect();
        events.sort_by(|a, b| (a.start_ms, &a.uid).cmp(&(b.start_ms, &b.uid)));
        events
    }
}

/// One content line: `NAME;PARAM=value;…:VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ContentLine {
    name: String,
    params: Vec<(String, String)>,
    value: String,
}

impl ContentLine {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Unfolds the calendar (by bytes: a fold may fall inside a UTF-8 character) and splits
/// it into content lines.
fn unfold(bytes: &[u8]) -> Result<Vec<String>, String> {
    let text = String::from_utf8(crate::scheduler::ical::unfold(bytes))
        .map_err(|_| "the calendar is not UTF-8".to_string())?;
    Ok(text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Splits a content line into name, parameters and value (quoted parameter values may
/// hold `;`, `:` and `,`).
fn content_line(line: &str) -> Result<ContentLine, String> {
    let mut chars = line.char_indices().peekable();
    let mut name_end = None;
    let mut params = Vec::new();
    while let Some((i, c)) = chars.next() {
        if c == ':' || c == ';' {
            let end = *name_end.get_or_insert(i);
            if c == ':' {
                let name = line[..end].to_ascii_uppercase();
                if name.is_empty() {
                    return Err(format!("a line without a name: {line:?}"));
                }
                return Ok(ContentLine {
                    name,
                    params,
                    value: line[i + 1..].to_string(),
                });
            }
            // A parameter: NAME=value or NAME="quoted value".
            let key_start = i + 1;
            let mut key_end = None;
            for (j, c) in chars.by_ref() {
                if c == '=' {
                    key_end = Some(j);
                    break;
                }
            }
            let key_end = key_end.ok_or_else(|| format!("a parameter without '=': {line:?}"))?;
            let key = line[key_start..key_end].to_ascii_uppercase();
            let mut value = String::new();
            if chars.peek().is_some_and(|&(_, c)| c == '"') {
                chars.next();
                let mut closed = false;
                for (_, c) in chars.by_ref() {
                    if c == '"' {
                        closed = true;
                        break;
                    }
                    value.push(c);
                }
                if !closed {
                    return Err(format!("an unclosed quote: {line:?}"));
                }
            } else {
                while let Some(&(_, c)) = chars.peek() {
                    if c == ';' || c == ':' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
            params.push((key, value));
        }
    }
    Err(format!("a line without ':': {line:?}"))
}

/// A UTC date-time (`20250303T090000Z`) in ms. Opencast writes nothing else; a floating or
/// zoned time would be a guess, so it is refused.
fn utc(value: &str) -> Result<i64, String> {
    let v = value.trim();
    let stripped = v
        .strip_suffix('Z')
        .ok_or_else(|| format!("{v:?} is not a UTC time (Opencast sends UTC only)"))?;
    let naive = NaiveDateTime::parse_from_str(stripped, "%Y%m%dT%H%M%S")
        .map_err(|e| format!("bad time {v:?}: {e}"))?;
    Ok(Utc.from_utc_datetime(&naive).timestamp_millis())
}

/// Reads agent properties: `key=value` lines, split at the first `=`, `#` and `!` lines
/// and blank lines skipped. Values are taken as written (Opencast does not escape them).
pub fn properties(text: &str) -> AgentProperties {
    let mut all = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        all.insert(
            key.trim().to_string(),
            value.trim_end_matches('\r').to_string(),
        );
    }
    let inputs = all.get(INPUTS_KEY).and_then(|names| {
        let set: BTreeSet<String> = names
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect();
        (!set.is_empty()).then_some(set)
    });
    let workflow = all
        .get(WORKFLOW_KEY)
        .map(|w| w.trim().to_string())
        .filter(|w| !w.is_empty());
    let workflow_config = all
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(WORKFLOW_CONFIG_PREFIX)
                .filter(|k| !k.is_empty())
                .map(|k| (k.to_string(), v.clone()))
        })
        .collect();
    AgentProperties {
        inputs,
        workflow,
        workflow_config,
        all,
    }
}

/// An event's lines, collected between BEGIN:VEVENT and END:VEVENT.
fn event(lines: &[ContentLine]) -> Result<CalendarEvent, (String, String)> {
    let first = |name: &str| lines.iter().find(|l| l.name == name);
    let uid = first("UID")
        .map(|l| l.value.trim().to_string())
        .unwrap_or_default();
    let fail = |reason: String| (uid.clone(), reason);
    if uid.is_empty() {
        return Err(fail("the event has no UID".into()));
    }
    let start_ms = utc(&first("DTSTART")
        .ok_or_else(|| fail("no DTSTART".into()))?
        .value)
    .map_err(fail)?;
    let end_ms =
        utc(&first("DTEND").ok_or_else(|| fail("no DTEND".into()))?.value).map_err(fail)?;
    if end_ms <= start_ms {
        return Err(fail("it ends before it starts".into()));
    }
    let mut properties_found = None;
    let mut attachments = Vec::new();
    for attach in lines.iter().filter(|l| l.name == "ATTACH") {
        let base64 = attach
            .param("ENCODING")
            .is_some_and(|e| e.eq_ignore_ascii_case("BASE64"));
        if !base64 {
            continue; // a link, not content
        }
        let compact: String = attach
            .value
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        if compact.len() / 4 * 3 > ATTACHMENT_MAX {
            return Err(fail(format!(
                "an attachment is larger than {} KiB",
                ATTACHMENT_MAX / 1024
            )));
        }
        let data = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map_err(|e| fail(format!("an attachment is not base64: {e}")))?;
        let filename = attach.param("X-APPLE-FILENAME").unwrap_or("").to_string();
        if filename == AGENT_PROPERTIES {
            properties_found = Some(properties(&String::from_utf8_lossy(&data)));
        } else {
            attachments.push(Attachment {
                filename,
                content_type: attach.param("FMTTYPE").map(str::to_string),
                data,
            });
        }
    }
    let optional = |name: &str| {
        first(name)
            .map(|l| unescape(&l.value))
            .filter(|v| !v.trim().is_empty())
    };
    Ok(CalendarEvent {
        title: optional("SUMMARY").unwrap_or_default(),
        description: optional("DESCRIPTION"),
        location: optional("LOCATION"),
        series: optional("RELATED-TO"),
        last_modified_ms: first("LAST-MODIFIED").and_then(|l| utc(&l.value).ok()),
        properties: properties_found.unwrap_or_default(),
        attachments,
        uid,
        start_ms,
        end_ms,
    })
}

/// Reads a calendar. `Err` when the text is not an iCalendar document (a login page, a
/// proxy's error page): the caller then keeps the calendar it has. Events that cannot be
/// recorded, and a second event with a UID already seen, come back as rejected.
pub fn parse(ics: &[u8]) -> Result<Calendar, String> {
    let ics = ics.strip_prefix("\u{feff}".as_bytes()).unwrap_or(ics);
    if !ics.trim_ascii_start().starts_with(b"BEGIN:VCALENDAR") {
        return Err("not an iCalendar document (it must start with BEGIN:VCALENDAR)".into());
    }
    let mut calendar = Calendar::default();
    let mut seen = BTreeSet::new();
    let mut current: Option<Vec<ContentLine>> = None;
    let mut ended = false;
    for line in unfold(ics)? {
        let line = content_line(&line)?;
        match (line.name.as_str(), line.value.trim()) {
            ("BEGIN", v) if v.eq_ignore_ascii_case("VEVENT") => {
                if current.is_some() {
                    return Err("a VEVENT inside a VEVENT".into());
                }
                current = Some(Vec::new());
            }
            ("END", v) if v.eq_ignore_ascii_case("VEVENT") => {
                let lines = current.take().ok_or("END:VEVENT without BEGIN:VEVENT")?;
                if calendar.events.len() >= EVENTS_MAX {
                    return Err(format!("the calendar holds more than {EVENTS_MAX} events"));
                }
                match event(&lines) {
                    Ok(e) if !seen.insert(e.uid.clone()) => calendar.rejected.push(Rejected {
                        uid: e.uid,
                        reason: "a second event with this UID".into(),
                    }),
                    Ok(e) => calendar.events.push(e),
                    Err((uid, reason)) => calendar.rejected.push(Rejected { uid, reason }),
                }
            }
            ("END", v) if v.eq_ignore_ascii_case("VCALENDAR") => ended = true,
            _ => {
                if let Some(lines) = current.as_mut() {
                    lines.push(line);
                }
            }
        }
    }
    if current.is_some() || !ended {
        return Err("the calendar is cut short (no END:VCALENDAR)".into());
    }
    Ok(calendar)
}

#[cfg(test)]
mod tests;
