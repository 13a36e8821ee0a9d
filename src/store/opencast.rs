//! The `opencast_agent` and `opencast_endpoints` tables: the capture-agent configuration
//! and the Opencast service endpoints last discovered.

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
