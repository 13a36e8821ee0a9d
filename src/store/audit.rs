//! The `audit` table: appended in batches, read newest first, pruned by id: to a number of
//! rows, of rows without a user, and of bytes.

use rusqlite::{Connection, Row, params};

use super::StoreError;
use crate::model::{AuditEntry, AuditFilter};

const COLUMNS: &str =
    "id, time, user, address, method, route, path, status, code, duration_ms, count";

/// What a row costs, in bytes: its strings, plus a fixed allowance for its numbers, its
/// entries in the two indexes and SQLite's own overhead.
const ROW_BYTES: &str = "(octet_length(path) + coalesce(octet_length(user), 0) * 2 \
    + octet_length(address) + octet_length(method) + coalesce(octet_length(route), 0) \
    + coalesce(octet_length(code), 0) + 64)";

fn from_row(row: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        id: row.get(0)?,
        time: row.get(1)?,
        user: row.get(2)?,
        address: row.get(3)?,
        method: row.get(4)?,
        route: row.get(5)?,
        path: row.get(6)?,
        status: row.get(7)?,
        code: row.get(8)?,
        duration_ms: row.get(9)?,
        count: row.get(10)?,
    })
}

/// Appends entries (their `id` is assigned here).
pub(crate) fn append(conn: &Connection, entries: &[AuditEntry]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO audit (time, user, address, method, route, path, status, code, duration_ms, count)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for e in entries {
        stmt.execute(params![
            e.time,
            e.user,
            e.address,
            e.method,
            e.route,
            e.path,
            e.status,
            e.code,
            e.duration_ms,
            e.count
        ])?;
    }
    Ok(())
}

/// Deletes the oldest rows until at most `rows` remain, at most `anonymous_rows` of them
/// without a user, and their cost (see `ROW_BYTES`) is at most `bytes`; returns how many
/// went. Ids only grow, so the newest rows are the highest ids.
pub(crate) fn prune(
    conn: &Connection,
    rows: i64,
    anonymous_rows: i64,
    bytes: i64,
) -> Result<usize, StoreError> {
    let mut deleted = conn
        .prepare_cached(
            "DELETE FROM audit WHERE id <= (SELECT coalesce(max(id), 0) FROM audit) - ?1",
        )?
        .execute(params![rows])?;
    // The newest rows without a user stay; the first one beyond them and all older go.
    deleted += conn
        .prepare_cached(
            "DELETE FROM audit WHERE user IS NULL AND id <= (SELECT id FROM audit
             WHERE user IS NULL ORDER BY id DESC LIMIT 1 OFFSET ?1)",
        )?
        .execute(params![anonymous_rows])?;
    let total: i64 = conn
        .prepare_cached(&format!("SELECT coalesce(sum({ROW_BYTES}), 0) FROM audit"))?
        .query_row([], |r| r.get(0))?;
    if total > bytes {
        // The newest row whose own cost and that of every newer row passes the bound is
        // the first to go.
        deleted += conn
            .prepare_cached(&format!(
                "DELETE FROM audit WHERE id <= (SELECT id FROM
                   (SELECT id, sum({ROW_BYTES}) OVER (ORDER BY id DESC) AS newer FROM audit)
                 WHERE newer > ?1 ORDER BY id DESC LIMIT 1)"
            ))?
            .execute(params![bytes])?;
    }
    Ok(deleted)
}

/// One page of entries, newest first, and the number of all entries matching the filter.
pub(crate) fn list(
    conn: &Connection,
    filter: &AuditFilter,
) -> Result<(Vec<AuditEntry>, i64), StoreError> {
    let condition = "(?1 IS NULL OR time >= ?1) AND (?2 IS NULL OR user = ?2)";
    let total: i64 = conn
        .prepare_cached(&format!("SELECT count(*) FROM audit WHERE {condition}"))?
        .query_row(params![filter.since, filter.user], |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM audit WHERE {condition} ORDER BY id DESC LIMIT ?3 OFFSET ?4"
    ))?;
    let rows = stmt.query_map(
        params![filter.since, filter.user, filter.limit, filter.offset],
        from_row,
    )?;
    let entries = rows.collect::<Result<Vec<_>, _>>()?;
    Ok((entries, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(time: i64, user: Option<&str>) -> AuditEntry {
        AuditEntry {
            id: 0,
            time,
            user: user.map(str::to_string),
            address: "127.0.0.1".into(),
            method: "POST".into(),
            route: Some("/api/1/users".into()),
            path: "/api/1/users".into(),
            status: 201,
            code: None,
            duration_ms: 3,
            count: 1,
        }
    }

    #[test]
    fn pages_filters_and_prunes_the_oldest() {
        let conn = crate::store::memory();
        let entries: Vec<_> = (0..10)
            .map(|t| entry(t, if t % 2 == 0 { Some("admin") } else { None }))
            .collect();
        append(&conn, &entries).unwrap();
        let all = AuditFilter {
            limit: 3,
            offset: 1,
            since: None,
            user: None,
        };
        let (page, total) = list(&conn, &all).unwrap();
        assert_eq!(total, 10);
        assert_eq!(page.iter().map(|e| e.time).collect::<Vec<_>>(), [8, 7, 6]);
        let admin_since = AuditFilter {
            since: Some(4),
            user: Some("admin".into()),
            limit: 100,
            offset: 0,
        };
        let (page, total) = list(&conn, &admin_since).unwrap();
        assert_eq!((total, page.len()), (3, 3));

        assert_eq!(prune(&conn, 4, 100, i64::MAX).unwrap(), 6);
        let (page, total) = list(&conn, &AuditFilter { offset: 0, ..all }).unwrap();
        assert_eq!(total, 4);
        assert_eq!(page[0].time, 9);
    }

    fn times(conn: &Connection) -> Vec<i64> {
        let every = AuditFilter {
            limit: 100,
            offset: 0,
            since: None,
            user: None,
        };
        list(conn, &every)
            .unwrap()
            .0
            .iter()
            .map(|e| e.time)
            .collect()
    }

    #[test]
    fn rows_without_a_user_and_bytes_are_bounded_apart_from_rows() {
        let conn = crate::store::memory();
        let entries: Vec<_> = (0..10)
            .map(|t| entry(t, if t % 2 == 0 { Some("admin") } else { None }))
            .collect();
        append(&conn, &entries).unwrap();
        // Two anonymous rows stay (7 and 9); every admin row stays.
        assert_eq!(prune(&conn, 100, 2, i64::MAX).unwrap(), 3);
        assert_eq!(times(&conn), [9, 8, 7, 6, 4, 2, 0]);

        // Each row costs its strings plus 64; three rows fit in this many bytes.
        let one: i64 = conn
            .query_row(
                &format!("SELECT {ROW_BYTES} FROM audit WHERE time = 8"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(prune(&conn, 100, 100, 3 * one + 10).unwrap(), 4);
        assert_eq!(times(&conn), [9, 8, 7]);
        assert_eq!(prune(&conn, 100, 100, 3 * one + 10).unwrap(), 0);
    }
}
