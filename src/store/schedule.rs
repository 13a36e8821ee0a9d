//! The `events` and `event_groups` tables.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::model::speaker::settle_stored;
use crate::model::{Event, EventGroup, Outcome};
use crate::sys::time::now_ms;

fn outcome_name(o: Outcome) -> String {
    serde_json::to_value(o)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn decode_event(text: String) -> Result<Event, StoreError> {
    let mut event: Event = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
        table: "events",
        message: e.to_string(),
    })?;
    settle_stored(&mut event.speaker, &mut event.speaker_info);
    Ok(event)
}

#[expect(clippy::expect_used, reason = "invariant: events serialise")]
pub(crate) fn put_event(conn: &Connection, event: &Event) -> Result<(), StoreError> {
    let mut stored = event.clone();
    stored.id = event.id.clone();
    let text = serde_json::to_string(&stored).expect("events serialise");
    let mut stmt = conn.prepare_cached(
        "INSERT INTO events (id, group_id, start_time, stop_time, outcome, template, event, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET group_id = excluded.group_id, start_time = excluded.start_time,
         stop_time = excluded.stop_time, outcome = excluded.outcome, template = excluded.template,
         event = excluded.event, updated_at = excluded.updated_at",
    )?;
    stmt.execute(params![
        event.id,
        event.group_id,
        event.start_time,
        event.stop_time,
        outcome_name(event.outcome),
        event.template_id,
        text,
        now_ms()
    ])?;
    Ok(())
}

pub(crate) fn get_event(conn: &Connection, id: &str) -> Result<Option<Event>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT event FROM events WHERE id = ?1")?;
    stmt.query_row(params![id], |r| r.get::<_, String>(0))
        .optional()?
        .map(decode_event)
        .transpose()
}

/// Events whose window touches [start, end), optionally of one template or group, by start
/// time; with the total matching.
pub(crate) fn list_events(
    conn: &Connection,
    start: Option<i64>,
    end: Option<i64>,
    template: Option<&str>,
    group: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Event>, i64), StoreError> {
    const FILTER: &str = "WHERE (?1 IS NULL OR stop_time > ?1) AND (?2 IS NULL OR start_time < ?2)
        AND (?3 IS NULL OR template = ?3) AND (?4 IS NULL OR group_id = ?4)";
    let mut count = conn.prepare_cached(&format!("SELECT count(*) FROM events {FILTER}"))?;
    let total: i64 = count.query_row(params![start, end, template, group], |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT event FROM events {FILTER} ORDER BY start_time, id LIMIT ?5 OFFSET ?6"
    ))?;
    let rows = stmt.query_map(params![start, end, template, group, limit, offset], |r| {
        r.get::<_, String>(0)
    })?;
    let events = rows
        .map(|r| decode_event(r?))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((events, total))
}

/// Events that still matter to the timer: pending or recording.
pub(crate) fn open_events(conn: &Connection) -> Result<Vec<Event>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT event FROM events WHERE outcome IN ('pending', 'recording') ORDER BY start_time",
    )?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.map(|r| decode_event(r?)).collect()
}

/// The events made from Opencast's calendar, by start time.
pub(crate) fn opencast_events(conn: &Connection) -> Result<Vec<Event>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT event FROM events WHERE json_extract(event, '$.opencast') IS NOT NULL
         ORDER BY start_time",
    )?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.map(|r| decode_event(r?)).collect()
}

/// Other events still to record or recording whose window overlaps [start, stop). Ended
/// events (completed, stopped early, missed, failed) no longer hold their window.
pub(crate) fn overlapping(
    conn: &Connection,
    start: i64,
    stop: i64,
    except: &[String],
) -> Result<Vec<Event>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT event FROM events WHERE start_time < ?2 AND stop_time > ?1
         AND outcome IN ('pending', 'recording') ORDER BY start_time",
    )?;
    let rows = stmt.query_map(params![start, stop], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for row in rows {
        let e = decode_event(row?)?;
        if !except.contains(&e.id) {
            out.push(e);
        }
    }
    Ok(out)
}

pub(crate) fn delete_event(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached("DELETE FROM events WHERE id = ?1")?;
    Ok(stmt.execute(params![id])? > 0)
}

/// Whether any pending event uses the template.
pub(crate) fn template_scheduled(conn: &Connection, template: &str) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT count(*) FROM events WHERE template = ?1 AND outcome IN ('pending', 'recording')",
    )?;
    let n: i64 = stmt.query_row(params![template], |r| r.get(0))?;
    Ok(n > 0)
}

#[expect(clippy::expect_used, reason = "invariant: groups serialise")]
pub(crate) fn put_group(conn: &Connection, group: &EventGroup) -> Result<(), StoreError> {
    let mut stored = group.clone();
    stored.events.clear();
    let text = serde_json::to_string(&stored).expect("groups serialise");
    let mut stmt = conn.prepare_cached(
        "INSERT INTO event_groups (id, grp, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET grp = excluded.grp, updated_at = excluded.updated_at",
    )?;
    stmt.execute(params![group.id, text, now_ms()])?;
    Ok(())
}

pub(crate) fn get_group(conn: &Connection, id: &str) -> Result<Option<EventGroup>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT grp FROM event_groups WHERE id = ?1")?;
    stmt.query_row(params![id], |r| r.get::<_, String>(0))
        .optional()?
        .map(|text| {
            let mut group: EventGroup =
                serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                    table: "event_groups",
                    message: e.to_string(),
                })?;
            settle_stored(&mut group.speaker, &mut group.speaker_info);
            Ok(group)
        })
        .transpose()
}

/// Ids of all groups, by the start of their first occurrence.
pub(crate) fn group_ids(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM event_groups ORDER BY json_extract(grp, '$.startTime'), id",
    )?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes a group and (by cascade) all its events.
pub(crate) fn delete_group(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached("DELETE FROM event_groups WHERE id = ?1")?;
    Ok(stmt.execute(params![id])? > 0)
}
