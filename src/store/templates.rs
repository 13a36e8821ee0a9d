//! The `templates` table.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::model::Template;
use crate::sys::time::now_ms;

fn decode(text: String) -> Result<Template, StoreError> {
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
        table: "templates",
        message: e.to_string(),
    })
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<Template>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT template FROM templates ORDER BY name COLLATE NOCASE")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.map(|r| decode(r?)).collect()
}

pub(crate) fn count(conn: &Connection) -> Result<i64, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT count(*) FROM templates")?;
    Ok(stmt.query_row([], |r| r.get(0))?)
}

/// A template by id, or else by name (ignoring case).
pub(crate) fn find(conn: &Connection, id_or_name: &str) -> Result<Option<Template>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT template FROM templates WHERE id = ?1
         UNION ALL SELECT template FROM templates WHERE name = ?1 COLLATE NOCASE AND id <> ?1
         LIMIT 1",
    )?;
    stmt.query_row(params![id_or_name], |r| r.get::<_, String>(0))
        .optional()?
        .map(decode)
        .transpose()
}

/// A template by id only.
pub(crate) fn get(conn: &Connection, id: &str) -> Result<Option<Template>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT template FROM templates WHERE id = ?1")?;
    stmt.query_row(params![id], |r| r.get::<_, String>(0))
        .optional()?
        .map(decode)
        .transpose()
}

/// The id of the template other than `except_id` that has `name` (ignoring case).
pub(crate) fn named(
    conn: &Connection,
    name: &str,
    except_id: &str,
) -> Result<Option<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM templates WHERE name = ?1 COLLATE NOCASE AND id <> ?2 LIMIT 1",
    )?;
    Ok(stmt
        .query_row(params![name, except_id], |r| r.get::<_, String>(0))
        .optional()?)
}

#[expect(clippy::expect_used, reason = "invariant: templates serialise")]
pub(crate) fn put(conn: &Connection, template: &Template) -> Result<(), StoreError> {
    let text = serde_json::to_string(template).expect("templates serialise");
    let mut stmt = conn.prepare_cached(
        "INSERT INTO templates (id, name, template, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, template = excluded.template,
         updated_at = excluded.updated_at",
    )?;
    stmt.execute(params![template.id, template.name, text, now_ms()])?;
    Ok(())
}

pub(crate) fn delete(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached("DELETE FROM templates WHERE id = ?1")?;
    Ok(stmt.execute(params![id])? > 0)
}
