//! Calendar import: entries of an iCalendar document become events (or recurring groups),
//! idempotently by UID. The whole import runs in one transaction with a savepoint per
//! entry, so an entry that breaks a rule is skipped whole and reported, and importing the
//! same calendar twice changes nothing the second time.

use rusqlite::Connection;
use serde_json::{Map, Value, json};

use super::book::{self, Rules, ScheduleError};
use super::ical::{Imported, Rejected};
use crate::model::{Event, EventGroup, ImportReport, Outcome, Skipped};
use crate::store;

/// The id an entry is stored under: its UID when it is a castd id (a calendar exported by
/// castd), otherwise derived from the UID, so the same entry always lands on the same id.
fn id_for(uid: &str, prefix: &str) -> String {
    if book::is_schedule_id(uid, prefix) {
        uid.to_string()
    } else {
        let hash = blake3::hash(uid.as_bytes()).to_hex();
        format!("{prefix}{}", &hash.as_str()[..20])
    }
}

enum Done {
    Created(String),
    Updated(String),
    Unchanged(String),
}

/// Imports the parsed entries; `rejected` (entries the parser could not read) are reported
/// as skipped.
pub(crate) fn import(
    conn: &Connection,
    entries: Vec<Imported>,
    rejected: Vec<Rejected>,
    rules: &Rules,
) -> Result<ImportReport, ScheduleError> {
    let mut report = ImportReport {
        skipped: rejected
            .into_iter()
            .map(|r| Skipped {
                uid: r.uid,
                reason: r.reason,
            })
            .collect(),
        ..ImportReport::default()
    };
    for entry in entries {
        conn.execute_batch("SAVEPOINT import_entry")?;
        let result = if entry.rrule.is_some() {
            import_series(conn, &entry, rules)
        } else {
            import_single(conn, &entry, rules)
        };
        match result {
            Ok(done) => {
                conn.execute_batch("RELEASE import_entry")?;
                match done {
                    Done::Created(id) => report.created.push(id),
                    Done::Updated(id) => report.updated.push(id),
                    Done::Unchanged(id) => report.unchanged.push(id),
                }
            }
            Err(e @ (ScheduleError::Store(_) | ScheduleError::Capture(_))) => return Err(e),
            Err(e) => {
                conn.execute_batch("ROLLBACK TO import_entry; RELEASE import_entry")?;
                report.skipped.push(Skipped {
                    uid: entry.uid.clone(),
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(report)
}

fn import_single(
    conn: &Connection,
    entry: &Imported,
    rules: &Rules,
) -> Result<Done, ScheduleError> {
    let id = id_for(&entry.uid, "ev-");
    let fields = json!({
        "title": entry.summary,
        "templateID": entry.template.clone().unwrap_or_default(),
        "startTime": entry.start,
        "stopTime": entry.stop,
        "tags": entry.categories,
    });
    let fields: Map<String, Value> = fields.as_object().cloned().unwrap_or_default();
    match store::schedule::get_event(conn, &id)? {
        Some(existing) if existing.outcome != Outcome::Pending => {
            if (existing.start_time, existing.stop_time) == (entry.start, entry.stop) {
                Ok(Done::Unchanged(id))
            } else {
                Err(ScheduleError::Ended(id))
            }
        }
        Some(existing) => {
            let (updated, _) = book::update_event(conn, &id, &fields, rules)?;
            Ok(if updated == existing {
                Done::Unchanged(id)
            } else {
                Done::Updated(id)
            })
        }
        None => {
            let mut event: Event = serde_json::from_value(Value::Object(fields)).map_err(|e| {
                ScheduleError::Invalid {
                    field: "event".into(),
                    reason: e.to_string(),
                }
            })?;
            event.id = id;
            event.ical_uid = Some(entry.uid.clone());
            let created = book::create_event(conn, event, rules)?;
            Ok(Done::Created(created.id))
        }
    }
}

fn import_series(
    conn: &Connection,
    entry: &Imported,
    rules: &Rules,
) -> Result<Done, ScheduleError> {
    let id = id_for(&entry.uid, "grp-");
    let fields = json!({
        "title": entry.summary,
        "templateID": entry.template.clone().unwrap_or_default(),
        "timezone": entry.timezone.clone().unwrap_or_default(),
        "rrule": entry.rrule.clone().unwrap_or_default(),
        "startTime": entry.start,
        "duration": entry.stop - entry.start,
        "exceptions": entry.exdates,
        "tags": entry.categories,
    });
    let fields: Map<String, Value> = fields.as_object().cloned().unwrap_or_default();
    match store::schedule::get_group(conn, &id)? {
        Some(existing) => {
            let before = book::group_events(conn, &id)?;
            let mut updated = book::update_group(conn, &id, &fields, rules)?;
            let after = std::mem::take(&mut updated.events);
            let mut was = existing;
            was.events.clear();
            Ok(if updated == was && after == before {
                Done::Unchanged(id)
            } else {
                Done::Updated(id)
            })
        }
        None => {
            let mut group: EventGroup =
                serde_json::from_value(Value::Object(fields)).map_err(|e| {
                    ScheduleError::Invalid {
                        field: "group".into(),
                        reason: e.to_string(),
                    }
                })?;
            group.id = id;
            group.ical_uid = Some(entry.uid.clone());
            let created = book::create_group(conn, group, rules)?;
            Ok(Done::Created(created.id))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::ical;

    const H: i64 = 3_600_000;

    fn rules(now: i64) -> Rules {
        Rules {
            now,
            concurrent: false,
            timezone: "UTC".into(),
            default_template: Some("lecture".into()),
        }
    }

    fn conn() -> Connection {
        let c = store::memory();
        let t: crate::model::Template =
            serde_json::from_str(include_str!("../../assets/templates/lecture.json")).unwrap();
        store::templates::put(&c, &t).unwrap();
        c
    }

    fn ics(body: &str) -> String {
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:lms\r\n{body}END:VCALENDAR\r\n")
    }

    #[test]
    fn importing_twice_changes_nothing_and_broken_entries_are_skipped_with_reasons() {
        let c = conn();
        let text = ics(
            "BEGIN:VEVENT\r\nUID:lecture-1@lms\r\nDTSTART:20300101T100000Z\r\nDTEND:20300101T113000Z\r\nSUMMARY:Algebra\r\nCATEGORIES:maths\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:clash@lms\r\nDTSTART:20300101T110000Z\r\nDTEND:20300101T120000Z\r\nSUMMARY:Clash\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:series@lms\r\nDTSTART:20300102T090000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=DAILY;COUNT=3\r\nSUMMARY:Daily\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:short@lms\r\nDTSTART:20300105T090000Z\r\nDURATION:PT5S\r\nEND:VEVENT\r\n",
        );
        let (entries, rejected) = ical::parse(&text, "UTC").unwrap();
        let first = import(&c, entries.clone(), rejected.clone(), &rules(H)).unwrap();
        assert_eq!(first.created.len(), 2, "{first:?}");
        assert!(first.created[1].starts_with("grp-"));
        let reasons: Vec<&str> = first.skipped.iter().map(|s| s.uid.as_str()).collect();
        assert_eq!(reasons, ["clash@lms", "short@lms"]);
        assert!(first.skipped[0].reason.contains("overlaps"), "{first:?}");
        let (events, total) =
            store::schedule::list_events(&c, None, None, None, None, 100, 0).unwrap();
        assert_eq!(total, 4, "one event and three occurrences: {events:?}");
        assert_eq!(events[0].tags, ["maths"]);
        assert_eq!(events[0].ical_uid.as_deref(), Some("lecture-1@lms"));

        let again = import(&c, entries, rejected, &rules(H)).unwrap();
        assert!(
            again.created.is_empty() && again.updated.is_empty(),
            "{again:?}"
        );
        assert_eq!(again.unchanged.len(), 2);
        let (_, total) = store::schedule::list_events(&c, None, None, None, None, 100, 0).unwrap();
        assert_eq!(total, 4);
    }
}
