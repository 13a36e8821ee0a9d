//! The Opencast capture-agent tables: the configuration (`opencast_agent`), the service
//! endpoints last discovered (`opencast_endpoints`), the last calendar
//! (`opencast_calendar`) and the outbox of recording states (`opencast_outbox`).

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::opencast::config::AgentConfig;
use crate::sys::time::now_ms;

/// The stored configuration; `None` on a box never configured.
pub(crate) fn config(conn: &Connection) -> Result<Option<AgentConfig>, StoreError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT config FROM opencast_agent WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| StoreError::Corrupt {
            table: "opencast_agent",
            message: e.to_string(),
        })
    })
    .transpose()
}

pub(crate) fn put_config(conn: &Connection, config: &AgentConfig) -> Result<(), StoreError> {
    let text = serde_json::to_string(config).map_err(|e| StoreError::Corrupt {
        table: "opencast_agent",
        message: e.to_string(),
    })?;
    conn.prepare_cached(
        "INSERT INTO opencast_agent (id, config, updated_at) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at",
    )?
    .execute(params![text, now_ms()])?;
    Ok(())
}

/// A discovered endpoint: the service type, its URL, and when it was found (ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub service: String,
    pub url: String,
    pub discovered_at: i64,
}

pub(crate) fn endpoints(conn: &Connection) -> Result<Vec<Endpoint>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT service, url, discovered_at FROM opencast_endpoints ORDER BY service",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Endpoint {
            service: r.get(0)?,
            url: r.get(1)?,
            discovered_at: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Replaces every stored endpoint with `found` (a server moved: old ones must not linger).
pub(crate) fn replace_endpoints(
    conn: &Connection,
    found: &[(String, String)],
) -> Result<(), StoreError> {
    conn.execute("DELETE FROM opencast_endpoints", [])?;
    let now = now_ms();
    let mut stmt = conn.prepare_cached(
        "INSERT INTO opencast_endpoints (service, url, discovered_at) VALUES (?1, ?2, ?3)",
    )?;
    for (service, url) in found {
        stmt.execute(params![service, url, now])?;
    }
    Ok(())
}

/// The calendar as Opencast last sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredCalendar {
    /// The ETag exactly as received (quotes and all), to send back in `If-None-Match`.
    pub etag: Option<String>,
    pub body: Vec<u8>,
    /// When Opencast last answered the calendar request (200 or 304), ms.
    pub fetched_at: i64,
    /// When it was last fetched without `If-None-Match`, ms.
    pub full_at: i64,
}

pub(crate) fn calendar(conn: &Connection) -> Result<Option<StoredCalendar>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT etag, body, fetched_at, full_at FROM opencast_calendar WHERE id = 1",
        )?
        .query_row([], |r| {
            Ok(StoredCalendar {
                etag: r.get(0)?,
                body: r.get(1)?,
                fetched_at: r.get(2)?,
                full_at: r.get(3)?,
            })
        })
        .optional()?)
}

pub(crate) fn put_calendar(conn: &Connection, calendar: &StoredCalendar) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO opencast_calendar (id, etag, body, fetched_at, full_at)
         VALUES (1, ?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET etag = excluded.etag, body = excluded.body,
             fetched_at = excluded.fetched_at, full_at = excluded.full_at",
    )?
    .execute(params![
        calendar.etag,
        calendar.body,
        calendar.fetched_at,
        calendar.full_at
    ])?;
    Ok(())
}

/// Notes that Opencast answered a calendar request with 304 (nothing changed).
pub(crate) fn calendar_unchanged(conn: &Connection, at: i64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE opencast_calendar SET fetched_at = ?1 WHERE id = 1")?
        .execute(params![at])?;
    Ok(())
}

/// Forgets the calendar (the agent was pointed at another server or another name).
pub(crate) fn forget_calendar(conn: &Connection) -> Result<(), StoreError> {
    conn.execute("DELETE FROM opencast_calendar", [])?;
    Ok(())
}

/// One recording state waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outgoing {
    pub seq: i64,
    pub uid: String,
    pub state: String,
    pub created_at: i64,
}

/// Queues a recording state for an Opencast event (sent in order, after every earlier one).
pub(crate) fn push_recording_state(
    conn: &Connection,
    uid: &str,
    state: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO opencast_outbox (uid, state, created_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![uid, state, now_ms()])?;
    Ok(())
}

/// The oldest states waiting, at most `limit`.
pub(crate) fn outbox(conn: &Connection, limit: usize) -> Result<Vec<Outgoing>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, uid, state, created_at FROM opencast_outbox ORDER BY seq LIMIT ?1",
    )?;
    let rows = stmt.query_map(params![limit as i64], |r| {
        Ok(Outgoing {
            seq: r.get(0)?,
            uid: r.get(1)?,
            state: r.get(2)?,
            created_at: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn outbox_len(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM opencast_outbox")?
        .query_row([], |r| r.get(0))?;
    Ok(n as u64)
}

/// Drops a state once Opencast took it (or refused it for good).
pub(crate) fn sent(conn: &Connection, seq: i64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM opencast_outbox WHERE seq = ?1")?
        .execute(params![seq])?;
    Ok(())
}
