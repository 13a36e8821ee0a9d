//! The `media_packages` table.

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, now_ms};
use crate::model::speaker::settle_stored;
use crate::model::{MediaPackage, PackageState};

fn decode(text: String) -> Result<MediaPackage, StoreError> {
    let mut package: MediaPackage =
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            table: "media_packages",
            message: e.to_string(),
        })?;
    settle_stored(&mut package.speaker, &mut package.speaker_info);
    let request = &mut package.request;
    settle_stored(&mut request.speaker, &mut request.speaker_info);
    Ok(package)
}

fn state_name(state: PackageState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

pub fn put(conn: &Connection, package: &MediaPackage) -> Result<(), StoreError> {
    let text = serde_json::to_string(package).expect("packages serialise");
    let mut stmt = conn.prepare_cached(
        "INSERT INTO media_packages (id, state, created_at, updated_at, package) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at,
         package = excluded.package",
    )?;
    stmt.execute(params![
        package.id,
        state_name(package.state),
        package.creation_date,
        now_ms(),
        text
    ])?;
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<MediaPackage>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT package FROM media_packages WHERE id = ?1")?;
    stmt.query_row(params![id], |r| r.get::<_, String>(0))
        .optional()?
        .map(decode)
        .transpose()
}

/// Newest first, optionally created at or after `since` and carrying `tag`; with the
/// total number matching.
pub fn list(
    conn: &Connection,
    limit: i64,
    offset: i64,
    since: Option<i64>,
    tag: Option<&str>,
) -> Result<(Vec<MediaPackage>, i64), StoreError> {
    const FILTER: &str = "WHERE (?1 IS NULL OR created_at >= ?1)
        AND (?2 IS NULL OR EXISTS (SELECT 1 FROM json_each(package, '$.tags') WHERE value = ?2))";
    let mut count =
        conn.prepare_cached(&format!("SELECT count(*) FROM media_packages {FILTER}"))?;
    let total: i64 = count.query_row(params![since, tag], |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT package FROM media_packages {FILTER} ORDER BY created_at DESC, id DESC LIMIT ?3 OFFSET ?4"
    ))?;
    let rows = stmt.query_map(params![since, tag, limit, offset], |r| {
        r.get::<_, String>(0)
    })?;
    let packages = rows.map(|r| decode(r?)).collect::<Result<Vec<_>, _>>()?;
    Ok((packages, total))
}

/// Packages a crash or power cut left unfinished.
pub fn unfinished(conn: &Connection) -> Result<Vec<MediaPackage>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT package FROM media_packages WHERE state IN ('capturing', 'processing') ORDER BY created_at",
    )?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.map(|r| decode(r?)).collect()
}

pub fn delete(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached("DELETE FROM media_packages WHERE id = ?1")?;
    Ok(stmt.execute(params![id])? > 0)
}
