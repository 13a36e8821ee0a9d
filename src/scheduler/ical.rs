//! iCalendar (RFC 5545): writing the schedule out, and reading calendars in.
//!
//! Export: one VEVENT per event, UID = event id, times in UTC, categories from tags, the
//! template in `X-CASTD-TEMPLATE`. Import: VEVENTs with a start and an end (or duration);
//! times in UTC, with a TZID, or floating (read in the unit's time zone); an RRULE makes a
//! recurring group (EXDATEs become its exceptions). Parsing does not change anything: the
//! caller decides what to store.

use std::io::BufReader;

use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
use ical::property::Property;

use crate::model::Event;

/// Escapes a text value.
fn text(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace('\n', "\\n")
        .replace('\r', "")
}

/// Folds a content line at 75 octets, never inside a UTF-8 character.
fn fold(line: &str) -> String {
    let mut out = String::new();
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
    out
}

fn utc(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_default()
}

/// The events as an iCalendar document.
pub(crate) fn export(events: &[Event], unit_name: &str, now_ms: i64) -> String {
    let mut out = String::new();
    for line in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//castd//capture schedule//EN",
        "CALSCALE:GREGORIAN",
    ] {
        out.push_str(&fold(line));
    }
    out.push_str(&fold(&format!("X-WR-CALNAME:{}", text(unit_name))));
    for e in events {
        out.push_str(&fold("BEGIN:VEVENT"));
        out.push_str(&fold(&format!("UID:{}", text(&e.id))));
        out.push_str(&fold(&format!("DTSTAMP:{}", utc(now_ms))));
        out.push_str(&fold(&format!("DTSTART:{}", utc(e.start_time))));
        out.push_str(&fold(&format!("DTEND:{}", utc(e.stop_time))));
        out.push_str(&fold(&format!("SUMMARY:{}", text(&e.title))));
        if !e.tags.is_empty() {
            let tags: Vec<String> = e.tags.iter().map(|t| text(t)).collect();
            out.push_str(&fold(&format!("CATEGORIES:{}", tags.join(","))));
        }
        out.push_str(&fold(&format!("X-CASTD-TEMPLATE:{}", text(&e.template_id))));
        if let Some(group) = &e.group_id {
            out.push_str(&fold(&format!("X-CASTD-GROUP:{}", text(group))));
        }
        out.push_str(&fold("END:VEVENT"));
    }
    out.push_str(&fold("END:VCALENDAR"));
    out
}

/// One event read from a calendar.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Imported {
    pub uid: String,
    pub summary: String,
    pub start: i64,
    pub stop: i64,
    pub categories: Vec<String>,
    pub template: Option<String>,
    /// The RRULE value, for a recurring series.
    pub rrule: Option<String>,
    /// The zone the series recurs in.
    pub timezone: Option<String>,
    pub exdates: Vec<i64>,
}

/// An entry that cannot be imported, and why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rejected {
    pub uid: String,
    pub reason: String,
}

/// Undoes TEXT escaping (`\n`, `\,`, `\;`, `\\`).
pub(crate) fn unescape(value: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n' | 'N') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A date-time value: UTC (`...Z`), in `tzid`, or floating (in `default_tz`).
fn datetime(value: &str, tzid: Option<&str>, default_tz: &str) -> Result<i64, String> {
    let v = value.trim();
    if v.len() == 8 {
        NaiveDate::parse_from_str(v, "%Y%m%d").map_err(|e| e.to_string())?;
        return Err("all-day entries are not recordings".into());
    }
    if let Some(stripped) = v.strip_suffix('Z') {
        let naive = NaiveDateTime::parse_from_str(stripped, "%Y%m%dT%H%M%S")
            .map_err(|e| format!("bad time {v:?}: {e}"))?;
        return Ok(Utc.from_utc_datetime(&naive).timestamp_millis());
    }
    let naive = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S")
        .map_err(|e| format!("bad time {v:?}: {e}"))?;
    let zone = tzid.unwrap_or(default_tz);
    let tz: chrono_tz::Tz = zone.parse().map_err(|_| {
        format!("unknown time zone {zone:?} (use IANA names such as Europe/Berlin)")
    })?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.timestamp_millis())
        .ok_or_else(|| format!("{v} does not exist in {zone}"))
}

/// An RFC 5545 duration such as `PT1H30M` or `P1D`, in ms.
fn duration(value: &str) -> Result<i64, String> {
    let v = value.trim().trim_start_matches('+');
    let body = v
        .strip_prefix('P')
        .ok_or_else(|| format!("bad duration {v:?}"))?;
    let (mut total, mut number, mut in_time) = (0i64, String::new(), false);
    for c in body.chars() {
        match c {
            'T' => in_time = true,
            d if d.is_ascii_digit() => number.push(d),
            unit => {
                let n: i64 = number.parse().map_err(|_| format!("bad duration {v:?}"))?;
                number.clear();
                let secs = match (unit, in_time) {
                    ('W', false) => 7 * 86_400,
                    ('D', false) => 86_400,
                    ('H', true) => 3600,
                    ('M', true) => 60,
                    ('S', true) => 1,
                    _ => return Err(format!("bad duration {v:?}")),
                };
                total += n * secs * 1000;
            }
        }
    }
    Ok(total)
}

/// Undoes RFC 5545 line folding: removes each line break that is followed by one space or
/// tab, and that blank. Works on bytes because a writer folding at 75 octets may break
/// inside a UTF-8 character; and it keeps a blank that ends a folded piece, which the
/// iCalendar parser castd uses would trim (a title folded right after a space would lose
/// the space).
pub(crate) fn unfold(bytes: &[u8]) -> Vec<u8> {
    let mut joined = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let newline = match (bytes[i], bytes.get(i + 1)) {
            (b'\r', Some(b'\n')) => 2,
            (b'\n', _) => 1,
            _ => 0,
        };
        if newline > 0 && matches!(bytes.get(i + newline), Some(b' ' | b'\t')) {
            i += newline + 1;
            continue;
        }
        joined.push(bytes[i]);
        i += 1;
    }
    joined
}

/// Reads every VEVENT of `ics`. `Err` when the text is not iCalendar at all; entries that
/// cannot become recordings are returned as rejected, with the reason.
pub(crate) fn parse(ics: &str, default_tz: &str) -> Result<(Vec<Imported>, Vec<Rejected>), String> {
    if !ics.trim_start().starts_with("BEGIN:VCALENDAR") {
        return Err("not an iCalendar document (it must start with BEGIN:VCALENDAR)".into());
    }
    let mut imported = Vec::new();
    let mut rejected = Vec::new();
    let mut calendars = 0;
    // Removing ASCII line breaks and blanks from UTF-8 text leaves UTF-8 text.
    let unfolded = unfold(ics.as_bytes());
    for calendar in ical::IcalParser::new(BufReader::new(unfolded.as_slice())) {
        let calendar = calendar.map_err(|e| format!("malformed iCalendar: {e}"))?;
        calendars += 1;
        for event in &calendar.events {
            match read_event(&event.properties, default_tz) {
                Ok(entry) => imported.push(entry),
                Err(entry) => rejected.push(entry),
            }
        }
    }
    if calendars == 0 {
        return Err("no VCALENDAR in the document".into());
    }
    Ok((imported, rejected))
}

/// One VEVENT, given by its properties, as an entry to import, or rejected with the reason.
fn read_event(properties: &[Property], default_tz: &str) -> Result<Imported, Rejected> {
    let props = Properties(properties);
    let uid = props.value("UID").unwrap_or_default();
    if uid.trim().is_empty() {
        return Err(Rejected {
            uid,
            reason: "the entry has no UID".into(),
        });
    }
    let (start, stop) = match times(&props, default_tz) {
        Ok(times) => times,
        Err(reason) => return Err(Rejected { uid, reason }),
    };
    Ok(Imported {
        summary: unescape(&props.value("SUMMARY").unwrap_or_default()),
        categories: props
            .value("CATEGORIES")
            .map(|c| {
                c.split(',')
                    .map(|t| unescape(t.trim()))
                    .filter(|t| !t.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        template: props.value("X-CASTD-TEMPLATE").map(|t| unescape(&t)),
        rrule: props.value("RRULE"),
        timezone: props.tzid("DTSTART"),
        exdates: exdates(properties, default_tz),
        uid,
        start,
        stop,
    })
}

/// An event's start and stop: DTSTART, then DTEND or DTSTART + DURATION.
fn times(props: &Properties<'_>, default_tz: &str) -> Result<(i64, i64), String> {
    let start = match props.value("DTSTART") {
        Some(v) => datetime(&v, props.tzid("DTSTART").as_deref(), default_tz)?,
        None => return Err("no DTSTART".into()),
    };
    let stop = match (props.value("DTEND"), props.value("DURATION")) {
        (Some(end), _) => datetime(&end, props.tzid("DTEND").as_deref(), default_tz),
        (None, Some(d)) => duration(&d).map(|d| start + d),
        (None, None) => Err("no DTEND or DURATION".into()),
    }?;
    Ok((start, stop))
}

/// Every instant of every EXDATE (a property may list several); unreadable ones are left
/// out.
fn exdates(properties: &[Property], default_tz: &str) -> Vec<i64> {
    properties
        .iter()
        .filter(|p| p.name.eq_ignore_ascii_case("EXDATE"))
        .flat_map(|p| {
            let tz = tzid(p);
            p.value
                .clone()
                .unwrap_or_default()
                .split(',')
                .filter_map(|v| datetime(v, tz.as_deref(), default_tz).ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// An event's properties, looked up by name as iCalendar does (ignoring case); the first
/// of a name counts.
struct Properties<'a>(&'a [Property]);

impl Properties<'_> {
    fn get(&self, name: &str) -> Option<&Property> {
        self.0.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }

    fn value(&self, name: &str) -> Option<String> {
        self.get(name).and_then(|p| p.value.clone())
    }

    fn tzid(&self, name: &str) -> Option<String> {
        self.get(name).and_then(tzid)
    }
}

/// A property's TZID parameter.
fn tzid(property: &Property) -> Option<String> {
    property.params.as_ref().and_then(|ps| {
        ps.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("TZID"))
            .and_then(|(_, v)| v.first().cloned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, title: &str, start: i64, stop: i64, tags: &[&str]) -> Event {
        serde_json::from_value(serde_json::json!({
            "id": id, "title": title, "templateID": "lecture", "startTime": start, "stopTime": stop,
            "tags": tags
        }))
        .unwrap()
    }

    #[test]
    fn a_title_folded_right_after_a_space_keeps_the_space() {
        // "SUMMARY:" and 65 octets put the fold (after octet 74) right after the space.
        let title = format!("{} Algebra", "x".repeat(65));
        let line = format!("SUMMARY:{title}");
        let (head, tail) = line.split_at(74);
        let ics = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:u1\r\n\
             DTSTART:20300101T090000Z\r\nDTEND:20300101T100000Z\r\n{head}\r\n {tail}\r\n\
             END:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        assert!(head.ends_with(' '));
        let (entries, rejected) = parse(&ics, "UTC").unwrap();
        assert!(rejected.is_empty());
        assert_eq!(entries[0].summary, title);
    }

    #[test]
    fn unfolding_joins_pieces_split_inside_a_character() {
        let folded = "SUMMARY:Vorlesung M\u{fc}nchen".as_bytes();
        let at = folded.iter().position(|&b| b == 0xc3).unwrap() + 1;
        let mut bytes = folded[..at].to_vec();
        bytes.extend_from_slice(b"\r\n ");
        bytes.extend_from_slice(&folded[at..]);
        assert!(String::from_utf8(bytes.clone()).is_err());
        assert_eq!(unfold(&bytes), folded);
        assert_eq!(
            unfold(b"A:1\nB:2\n\tcontinued\r\n"),
            b"A:1\nB:2continued\r\n"
        );
    }

    #[test]
    fn exported_events_read_back_the_same() {
        let events = [
            event(
                "ev-1",
                "Physics; Mechanics, part 1",
                1_800_000_000_000,
                1_800_005_400_000,
                &["physics", "year 1"],
            ),
            event(
                "ev-2",
                "Long title ".repeat(12).trim(),
                1_800_100_000_000,
                1_800_103_600_000,
                &[],
            ),
        ];
        let ics = export(&events, "Hall A", 1_799_000_000_000);
        assert!(ics.lines().all(|l| l.len() <= 75), "lines are folded");
        assert!(ics.contains("DTSTART:20270115T080000Z"), "{ics}");
        let (read, rejected) = parse(&ics, "UTC").unwrap();
        assert!(rejected.is_empty());
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].uid, "ev-1");
        assert_eq!(read[0].summary, "Physics; Mechanics, part 1");
        assert_eq!(
            (read[0].start, read[0].stop),
            (1_800_000_000_000, 1_800_005_400_000)
        );
        assert_eq!(read[0].categories, ["physics", "year 1"]);
        assert_eq!(read[0].template.as_deref(), Some("lecture"));
        assert_eq!(read[1].summary, events[1].title);
    }

    #[test]
    fn zones_floating_times_durations_and_series_are_understood() {
        let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n\
            BEGIN:VEVENT\r\nUID:a@lms\r\nDTSTART;TZID=Europe/Berlin:20260317T100000\r\nDURATION:PT1H30M\r\n\
            RRULE:FREQ=WEEKLY;COUNT=3\r\nEXDATE;TZID=Europe/Berlin:20260324T100000\r\nSUMMARY:Series\r\nEND:VEVENT\r\n\
            BEGIN:VEVENT\r\nUID:b@lms\r\nDTSTART:20260317T140000\r\nDTEND:20260317T150000\r\nEND:VEVENT\r\n\
            BEGIN:VEVENT\r\nUID:c@lms\r\nDTSTART;VALUE=DATE:20260317\r\nDTEND;VALUE=DATE:20260318\r\nEND:VEVENT\r\n\
            BEGIN:VEVENT\r\nDTSTART:20260317T140000Z\r\nDTEND:20260317T150000Z\r\nEND:VEVENT\r\n\
            END:VCALENDAR\r\n";
        let (read, rejected) = parse(ics, "America/New_York").unwrap();
        assert_eq!(read.len(), 2);
        let series = &read[0];
        assert_eq!(
            series.start,
            Utc.with_ymd_and_hms(2026, 3, 17, 9, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        assert_eq!(series.stop - series.start, 90 * 60 * 1000);
        assert_eq!(series.rrule.as_deref(), Some("FREQ=WEEKLY;COUNT=3"));
        assert_eq!(series.timezone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(
            series.exdates,
            [Utc.with_ymd_and_hms(2026, 3, 24, 9, 0, 0)
                .unwrap()
                .timestamp_millis()]
        );
        // floating time in the unit's zone (New York, UTC-4 on 17 March)
        assert_eq!(
            read[1].start,
            Utc.with_ymd_and_hms(2026, 3, 17, 18, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        assert_eq!(rejected.len(), 2);
        assert!(rejected[0].reason.contains("all-day"), "{rejected:?}");
        assert!(rejected[1].reason.contains("UID"), "{rejected:?}");
    }

    #[test]
    fn text_that_is_not_a_calendar_is_refused() {
        assert!(parse("hello", "UTC").is_err());
        assert!(parse("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\n", "UTC").is_err());
        assert!(duration("PT1H").is_ok());
        assert!(duration("1H").is_err());
    }
}
