//! The `media_packages` table, and `package_markers`: a package's markers live in rows of
//! their own, so adding one is an append however many there are, and are put back into
//! the package when it is read.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::model::speaker::settle_stored;
use crate::model::{Marker, MediaPackage, PackageState};
use crate::sys::time::now_ms;

/// The package stored as `text`, with its markers.
fn decode(conn: &Connection, text: String) -> Result<MediaPackage, StoreError> {
    let mut package: MediaPackage =
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            table: "media_packages",
            message: e.to_string(),
        })?;
    settle_stored(&mut package.speaker, &mut package.speaker_info);
    let request = &mut package.request;
    settle_stored(&mut request.speaker, &mut request.speaker_info);
    package.markers = markers(conn, &package.id)?;
    Ok(package)
}

/// The markers of a package, in recorded time (then in the order they were added, so one
/// stored late by `put` still lands in its place).
pub(crate) fn markers(conn: &Connection, package_id: &str) -> Result<Vec<Marker>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT time, title, description FROM package_markers WHERE package_id = ?1
         ORDER BY time, seq",
    )?;
    let rows = stmt.query_map(params![package_id], |r| {
        Ok(Marker {
            time: r.get(0)?,
            title: r.get(1)?,
            description: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Appends a marker to a stored package (one row; the package itself is not rewritten).
pub(crate) fn add_marker(
    conn: &Connection,
    package_id: &str,
    marker: &Marker,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO package_markers (package_id, seq, time, title, description)
         SELECT ?1, coalesce(max(seq) + 1, 0), ?2, ?3, ?4 FROM package_markers WHERE package_id = ?1",
    )?;
    stmt.execute(params![
        package_id,
        marker.time,
        marker.title,
        marker.description
    ])?;
    Ok(())
}

fn state_name(state: PackageState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Inserts or updates a package. Its markers go to their own rows: the package's JSON keeps
/// an empty list, and markers the table lacks (an append that failed) are added, so the
/// session's save at its end stores every marker it accepted. A copy that knows fewer
/// markers (read before the latest were added) removes none.
#[expect(clippy::expect_used, reason = "invariant: packages serialise")]
pub(crate) fn put(conn: &Connection, package: &MediaPackage) -> Result<(), StoreError> {
    let text = serde_json::to_string(&MediaPackage {
        markers: Vec::new(),
        ..package.clone()
    })
    .expect("packages serialise");
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
    if !package.markers.is_empty() {
        let stored = markers(conn, &package.id)?;
        for marker in package.markers.iter().filter(|m| !stored.contains(m)) {
            add_marker(conn, &package.id, marker)?;
        }
    }
    Ok(())
}

pub(crate) fn get(conn: &Connection, id: &str) -> Result<Option<MediaPackage>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT package FROM media_packages WHERE id = ?1")?;
    stmt.query_row(params![id], |r| r.get::<_, String>(0))
        .optional()?
        .map(|text| decode(conn, text))
        .transpose()
}

/// Newest first, optionally created at or after `since` and carrying `tag`; with the
/// total number matching.
pub(crate) fn list(
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
    let packages = rows
        .map(|r| decode(conn, r?))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((packages, total))
}

/// Packages a crash or power cut left unfinished.
pub(crate) fn unfinished(conn: &Connection) -> Result<Vec<MediaPackage>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT package FROM media_packages WHERE state IN ('capturing', 'processing') ORDER BY created_at",
    )?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.map(|r| decode(conn, r?)).collect()
}

pub(crate) fn delete(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached("DELETE FROM media_packages WHERE id = ?1")?;
    Ok(stmt.execute(params![id])? > 0)
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;
    use serde_json::json;

    use super::*;

    fn package(id: &str, markers: serde_json::Value) -> MediaPackage {
        serde_json::from_value(json!({
            "id": id, "title": "Lecture", "creationDate": 1_700_000_000_000i64,
            "root": "/x", "outputs": {}, "sources": [], "publishing": {},
            "processing": {"root": "recording", "nodes": []}, "state": "capturing",
            "duration": 0, "tags": [], "metadata": {}, "templateID": "t",
            "markers": markers, "request": {}
        }))
        .unwrap()
    }

    fn marker(n: i64) -> Marker {
        Marker {
            time: n * 1000,
            title: format!("m{n}"),
            description: (n % 2 == 0).then(|| "why".to_string()),
        }
    }

    fn stored_json(conn: &Connection, id: &str) -> String {
        conn.query_row(
            "SELECT package FROM media_packages WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn markers_are_appended_as_rows_and_come_back_with_the_package() {
        let conn = crate::store::memory();
        put(&conn, &package("p1", json!([]))).unwrap();
        let row = stored_json(&conn, "p1").len();
        for n in 0..3 {
            add_marker(&conn, "p1", &marker(n)).unwrap();
        }
        // The package row is untouched by markers.
        assert_eq!(stored_json(&conn, "p1").len(), row);
        let read = get(&conn, "p1").unwrap().unwrap();
        assert_eq!(read.markers, [marker(0), marker(1), marker(2)]);
        assert_eq!(
            list(&conn, 10, 0, None, None).unwrap().0[0].markers.len(),
            3
        );

        // A save from a copy that knew fewer markers loses none, and writes none into
        // the row.
        let mut stale = package("p1", json!([]));
        stale.markers.push(marker(0));
        stale.state = PackageState::Complete;
        put(&conn, &stale).unwrap();
        assert!(stored_json(&conn, "p1").contains("\"markers\":[]"));
        assert_eq!(get(&conn, "p1").unwrap().unwrap().markers.len(), 3);

        // The session's own save brings in a marker whose append failed, in its place.
        let mut session = package("p1", json!([]));
        session.markers = vec![marker(0), marker(1), marker(2), marker(3)];
        conn.execute("DELETE FROM package_markers WHERE title = 'm1'", [])
            .unwrap();
        put(&conn, &session).unwrap();
        assert_eq!(get(&conn, "p1").unwrap().unwrap().markers, session.markers);
        put(&conn, &session).unwrap();
        assert_eq!(get(&conn, "p1").unwrap().unwrap().markers.len(), 4);

        // A marker for a package that is not stored is refused; deleting a package
        // deletes its markers.
        assert!(add_marker(&conn, "ghost", &marker(0)).is_err());
        assert!(delete(&conn, "p1").unwrap());
        let left: i64 = conn
            .query_row("SELECT count(*) FROM package_markers", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn markers_stored_inside_older_packages_move_to_their_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let conn = Connection::open(&path).unwrap();
        // The database as version 8 left it: markers inside the package JSON.
        let migrations = [
            include_str!("migrations/0001_users_settings.sql"),
            include_str!("migrations/0002_plugin_settings.sql"),
            include_str!("migrations/0003_templates_packages.sql"),
            include_str!("migrations/0004_schedule.sql"),
            include_str!("migrations/0005_publish.sql"),
            include_str!("migrations/0006_speakers.sql"),
            include_str!("migrations/0007_audit.sql"),
            include_str!("migrations/0008_graphs.sql"),
        ];
        for sql in migrations {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 8).unwrap();
        let old = package("p1", json!([marker(0), marker(1)]));
        conn.execute(
            "INSERT INTO media_packages (id, state, created_at, updated_at, package) VALUES ('p1', 'complete', 1, 1, ?1)",
            [serde_json::to_string(&old).unwrap()],
        )
        .unwrap();
        drop(conn);

        let store = crate::store::Store::open(&path).unwrap();
        drop(store);
        let conn = Connection::open(&path).unwrap();
        assert!(stored_json(&conn, "p1").contains("\"markers\":[]"));
        assert_eq!(
            get(&conn, "p1").unwrap().unwrap().markers,
            [marker(0), marker(1)]
        );
    }
}
