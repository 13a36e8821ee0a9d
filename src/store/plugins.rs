//! The `plugin_settings` table: one JSON settings object per plugin.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};

use super::StoreError;
use crate::sys::time::now_ms;

pub(crate) fn all(conn: &Connection) -> Result<BTreeMap<String, serde_json::Value>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT plugin_id, settings FROM plugin_settings")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (id, text) = row?;
        let value = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            table: "plugin_settings",
            message: format!("{id}: {e}"),
        })?;
        out.insert(id, value);
    }
    Ok(out)
}

pub(crate) fn put(
    conn: &Connection,
    plugin_id: &str,
    settings: &serde_json::Value,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO plugin_settings (plugin_id, settings, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (plugin_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
    )?;
    stmt.execute(params![plugin_id, settings.to_string(), now_ms()])?;
    Ok(())
}
