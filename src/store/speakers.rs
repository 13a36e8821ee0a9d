//! The `speakers` table.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::StoreError;
use crate::model::Speaker;
use crate::sys::time::now_ms;

const COLUMNS: &str = "id, name, email, biography, credentials, image, links";

type RawRow = (
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

fn from_row(row: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    ))
}

fn decode(
    (id, name, email, biography, credentials, image, links): RawRow,
) -> Result<Speaker, StoreError> {
    let corrupt = |what: &str, e: serde_json::Error| StoreError::Corrupt {
        table: "speakers",
        message: format!("{what} of speaker {id}: {e}"),
    };
    let image = image
        .map(|text| serde_json::from_str::<Value>(&text))
        .transpose()
        .map_err(|e| corrupt("image", e))?;
    let links: Vec<Value> = serde_json::from_str(&links).map_err(|e| corrupt("links", e))?;
    Ok(Speaker {
        id,
        name,
        email,
        biography,
        credentials,
        image,
        links,
    })
}

fn encode_image(speaker: &Speaker) -> Option<String> {
    speaker.image.as_ref().map(Value::to_string)
}

fn encode_links(speaker: &Speaker) -> String {
    Value::Array(speaker.links.clone()).to_string()
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<Speaker>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM speakers ORDER BY id"))?;
    let rows = stmt.query_map([], from_row)?;
    rows.map(|r| decode(r?)).collect()
}

pub(crate) fn get(conn: &Connection, id: i64) -> Result<Option<Speaker>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM speakers WHERE id = ?1"))?;
    stmt.query_row(params![id], from_row)
        .optional()?
        .map(decode)
        .transpose()
}

/// The speaker of this name, compared ignoring (ASCII) case like the UNIQUE constraint.
pub(crate) fn find_by_name(conn: &Connection, name: &str) -> Result<Option<Speaker>, StoreError> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM speakers WHERE name = ?1"))?;
    stmt.query_row(params![name], from_row)
        .optional()?
        .map(decode)
        .transpose()
}

/// Inserts the speaker (its `id` is ignored) and returns the new id. A duplicate name is
/// the UNIQUE violation, for the caller to map.
pub(crate) fn insert(conn: &Connection, speaker: &Speaker) -> rusqlite::Result<i64> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO speakers (name, email, biography, credentials, image, links, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    stmt.execute(params![
        speaker.name,
        speaker.email,
        speaker.biography,
        speaker.credentials,
        encode_image(speaker),
        encode_links(speaker),
        now_ms()
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Replaces every field of speaker `speaker.id`; false when it does not exist.
pub(crate) fn update(conn: &Connection, speaker: &Speaker) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare_cached(
        "UPDATE speakers SET name = ?2, email = ?3, biography = ?4, credentials = ?5,
         image = ?6, links = ?7, updated_at = ?8 WHERE id = ?1",
    )?;
    let changed = stmt.execute(params![
        speaker.id,
        speaker.name,
        speaker.email,
        speaker.biography,
        speaker.credentials,
        encode_image(speaker),
        encode_links(speaker),
        now_ms()
    ])?;
    Ok(changed > 0)
}

/// Deletes a speaker; false when it does not exist.
pub(crate) fn delete(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached("DELETE FROM speakers WHERE id = ?1")?;
    Ok(stmt.execute(params![id])? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speaker(name: &str) -> Speaker {
        Speaker {
            id: 0,
            name: name.into(),
            email: Some("ada@example.edu".into()),
            biography: None,
            credentials: Some("PhD".into()),
            image: Some(serde_json::json!({"path": "ada.jpg"})),
            links: vec![serde_json::json!({"url": "https://example.edu"})],
        }
    }

    #[test]
    fn round_trip_and_names_unique_ignoring_case() {
        let conn = crate::store::memory();
        let id = insert(&conn, &speaker("Ada Lovelace")).unwrap();
        let stored = get(&conn, id).unwrap().unwrap();
        assert_eq!(
            stored,
            Speaker {
                id,
                ..speaker("Ada Lovelace")
            }
        );
        assert_eq!(
            find_by_name(&conn, "ada LOVELACE").unwrap().map(|s| s.id),
            Some(id)
        );
        let err = insert(&conn, &speaker("ADA LOVELACE")).unwrap_err();
        assert!(crate::store::is_unique_violation(&err));
        assert!(delete(&conn, id).unwrap());
        assert!(!delete(&conn, id).unwrap());
        assert!(list(&conn).unwrap().is_empty());
    }
}
