//! The `settings` table: values changed from their defaults, as JSON text.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};

use super::StoreError;
use crate::sys::time::now_ms;

/// All stored settings; a key that is not stored has its default value.
pub(crate) fn all(conn: &Connection) -> Result<BTreeMap<String, serde_json::Value>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT key, value FROM settings")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (key, text) = row?;
        let value = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            table: "settings",
            message: format!("{key}: {e}"),
        })?;
        out.insert(key, value);
    }
    Ok(out)
}

pub(crate) fn put(
    conn: &Connection,
    key: &str,
    value: &serde_json::Value,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )?;
    stmt.execute(params![key, value.to_string(), now_ms()])?;
    Ok(())
}
