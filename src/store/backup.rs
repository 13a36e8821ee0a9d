//! The SQL side of backup and restore: a consistent snapshot of the live database, what a
//! database file offered for restoring is (integrity, schema version, castd's tables), and
//! carrying the live audit trail into a restored database. The archive format and the
//! restart that swaps a restored database in belong to `crate::backup`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::{Store, StoreError};

/// Tables a database of castd has from the given schema version on; a database whose
/// schema version promises a table it lacks is not castd's.
const KNOWN_TABLES: &[(i64, &str)] = &[
    (1, "users"),
    (1, "settings"),
    (2, "plugin_settings"),
    (3, "templates"),
    (3, "media_packages"),
    (4, "events"),
    (4, "event_groups"),
    (5, "publish_jobs"),
    (6, "speakers"),
    (7, "audit"),
    (8, "graphs"),
    (9, "package_markers"),
];

/// How long a snapshot waits, in all, for the writer to let go of its lock.
const SNAPSHOT_PATIENCE: Duration = Duration::from_secs(5);

impl Store {
    /// Copies the live database into a new file at `target`, at one point in time, while
    /// castd keeps running (SQLite's online backup). The copy is one self-contained file
    /// whatever journal mode the live database uses. Returns the copy's schema version.
    pub async fn snapshot_to(&self, target: PathBuf) -> Result<i64, StoreError> {
        self.read(move |conn| {
            let mut copy = Connection::open(&target)?;
            {
                let backup = Backup::new(conn, &mut copy)?;
                let pause = Duration::from_millis(20);
                let mut waited = Duration::ZERO;
                loop {
                    // All pages in one step: one read transaction, so one point in time.
                    match backup.step(-1)? {
                        StepResult::Done => break,
                        StepResult::More => {}
                        // The writer holds a lock for a moment; the step is retried whole.
                        _ if waited < SNAPSHOT_PATIENCE => {
                            waited += pause;
                            std::thread::sleep(pause);
                        }
                        _ => return Err(StoreError::Busy),
                    }
                }
            }
            copy.pragma_update(None, "journal_mode", "DELETE")?;
            Ok(copy.query_row("PRAGMA user_version", [], |r| r.get(0))?)
        })
        .await
    }
}

/// What a database file offered for restoring is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Inspection {
    /// The first answer of `PRAGMA integrity_check`: `ok` for an intact database.
    pub integrity: String,
    /// `PRAGMA user_version`; 0 when the integrity check failed (not read).
    pub version: i64,
    /// The first table its schema version promises that it lacks.
    pub missing_table: Option<&'static str>,
}

/// Opens a database file that is not the live one and says what it is. An intact database
/// is left as one self-contained file (journal mode DELETE), ready to be moved into place.
pub(crate) fn inspect(path: &Path) -> rusqlite::Result<Inspection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let integrity: String = conn.query_row("PRAGMA integrity_check(1)", [], |r| r.get(0))?;
    if integrity != "ok" {
        return Ok(Inspection {
            integrity,
            version: 0,
            missing_table: None,
        });
    }
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let mut stmt =
        conn.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?;
    let mut missing_table = None;
    for (since, table) in KNOWN_TABLES {
        if *since <= version && !stmt.exists([table])? {
            missing_table = Some(*table);
            break;
        }
    }
    drop(stmt);
    conn.pragma_update(None, "journal_mode", "DELETE")?;
    Ok(Inspection {
        integrity,
        version,
        missing_table,
    })
}

/// Checkpoints a database that no connection has open into its main file, so the file can
/// be moved without its write-ahead log.
pub(crate) fn make_self_contained(path: &Path) -> rusqlite::Result<()> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "DELETE")
}

/// Replaces the staged database's audit rows with the live ones, so a restore never erases
/// the record of what was done (including the restore itself). The staged database is
/// brought to the current schema first (the store would do it at the next open anyway), so
/// both tables have the same columns. Does nothing when either has no audit table.
pub(crate) fn carry_audit(live: &Path, staged: &Path) -> Result<(), StoreError> {
    super::migrations::migrate(&mut Connection::open(live)?, live)?;
    let mut conn = Connection::open(staged)?;
    super::migrations::migrate(&mut conn, staged)?;
    let has_audit = |schema: &str| -> rusqlite::Result<bool> {
        conn.prepare(&format!(
            "SELECT 1 FROM {schema}.sqlite_master WHERE type = 'table' AND name = 'audit'"
        ))?
        .exists([])
    };
    conn.execute("ATTACH DATABASE ?1 AS live", [live.to_string_lossy()])?;
    if has_audit("main")? && has_audit("live")? {
        conn.execute_batch(
            "BEGIN;
             DELETE FROM main.audit;
             INSERT INTO main.audit (id, time, user, address, method, route, path, status, code, duration_ms, count)
                 SELECT id, time, user, address, method, route, path, status, code, duration_ms, count FROM live.audit;
             COMMIT;",
        )?;
    }
    conn.execute("DETACH DATABASE live", [])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_snapshot_is_an_intact_self_contained_castd_database() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("castd.db")).unwrap();
        let copy = dir.path().join("copy.db");
        let version = store.snapshot_to(copy.clone()).await.unwrap();
        assert_eq!(version, super::super::SCHEMA_VERSION);
        assert!(!dir.path().join("copy.db-wal").exists());
        let seen = inspect(&copy).unwrap();
        assert_eq!(
            seen,
            Inspection {
                integrity: "ok".into(),
                version,
                missing_table: None
            }
        );
    }

    #[test]
    fn a_database_without_a_promised_table_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE users (id INTEGER); CREATE TABLE settings (key TEXT); PRAGMA user_version = 2;",
        )
        .unwrap();
        drop(conn);
        assert_eq!(
            inspect(&path).unwrap().missing_table,
            Some("plugin_settings")
        );
    }
}
