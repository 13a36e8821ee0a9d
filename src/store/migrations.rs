//! Numbered schema migrations, applied in order inside one transaction each.
//!
//! The schema version lives in `PRAGMA user_version`. A database newer than this binary is
//! never touched: an older castd must not write into a schema it does not understand.

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

/// Migrations in order; the version after applying entry `i` is `i + 1`. Never edit or
/// reorder a released entry, only append.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_users_settings.sql"),
    include_str!("migrations/0002_plugin_settings.sql"),
    include_str!("migrations/0003_templates_packages.sql"),
    include_str!("migrations/0004_schedule.sql"),
    include_str!("migrations/0005_publish.sql"),
    include_str!("migrations/0006_speakers.sql"),
    include_str!("migrations/0007_audit.sql"),
    include_str!("migrations/0008_graphs.sql"),
    include_str!("migrations/0009_package_markers.sql"),
    include_str!("migrations/0010_audit_summaries.sql"),
    include_str!("migrations/0011_opencast_agent.sql"),
    include_str!("migrations/0012_opencast_calendar_outbox.sql"),
];

pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        // PRAGMA takes no bound parameters; the value is our own integer.
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        log::info!("database schema migrated to version {version}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op_and_newer_schemas_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn, &path).unwrap();
        migrate(&mut conn, &path).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);

        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn, &path).unwrap_err();
        assert!(matches!(err, StoreError::NewerSchema { .. }), "{err}");
    }
}
