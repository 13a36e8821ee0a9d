//! The SQLite store: connections, migrations, and the async boundary.
//!
//! Owns every SQL statement of the daemon (one submodule per table group); nothing outside
//! `store/` writes SQL. All work runs on tokio's blocking pool so a slow disk never stalls
//! the HTTP threads. The database never holds media.
//!
//! Durability: WAL mode with `synchronous=FULL`. Writes are rare (settings, users, schedule,
//! session transitions) so an fsync per commit costs nothing noticeable, and in exchange a
//! power cut never rolls back a committed schedule change or a recording's bookkeeping.

pub(crate) mod audit;
pub(crate) mod backup;
pub(crate) mod graphs;
mod migrations;
pub(crate) mod opencast;
pub(crate) mod packages;
pub(crate) mod plugins;
pub(crate) mod publish;
pub(crate) mod schedule;
pub(crate) mod settings;
pub(crate) mod speakers;
pub(crate) mod templates;
pub(crate) mod users;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction};

pub(crate) use migrations::SCHEMA_VERSION;

/// Readers kept open next to the single writer; WAL lets them run alongside it.
const READERS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database is busy")]
    Busy,
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    #[error(
        "database {path} has schema version {found}, newer than this castd supports ({supported}); refusing to touch it"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("corrupt row in {table}: {message}")]
    Corrupt {
        table: &'static str,
        message: String,
    },
    #[error("database task failed: {0}")]
    Task(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::Busy
            }
            _ => StoreError::Sqlite(e),
        }
    }
}

/// Whether an error is a UNIQUE constraint violation (a conflicting insert raced past a check).
pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}

/// Cheap, cloneable handle to the database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl Store {
    /// Opens (creating if needed) the database and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let mut writer = open_connection(path, false)?;
        migrations::migrate(&mut writer, path)?;
        let readers = (0..READERS)
            .map(|_| open_connection(path, true))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                writer: Mutex::new(writer),
                readers: Mutex::new(readers),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on a read-only connection off the async threads.
    pub async fn read<F, R, E>(&self, f: F) -> Result<R, E>
    where
        F: FnOnce(&Connection) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner.take_reader().map_err(E::from)?;
            let result = f(&conn);
            inner.return_reader(conn);
            result
        })
        .await
        .map_err(|e| E::from(StoreError::Task(e.to_string())))?
    }

    /// Runs `f` inside one write transaction off the async threads; commits when `f` returns
    /// `Ok`, rolls back otherwise, so a rejected request changes nothing.
    pub async fn write<F, R, E>(&self, f: F) -> Result<R, E>
    where
        F: FnOnce(&Transaction) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner
                .writer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| E::from(e.into()))?;
            let value = f(&tx)?;
            tx.commit().map_err(|e| E::from(e.into()))?;
            Ok(value)
        })
        .await
        .map_err(|e| E::from(StoreError::Task(e.to_string())))?
    }

    /// A trivial query through the writer: proves the database still answers (watchdog).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(StoreError::from)
        })
        .await
    }
}

impl Inner {
    fn take_reader(&self) -> Result<Connection, StoreError> {
        let pooled = self
            .readers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        match pooled {
            Some(conn) => Ok(conn),
            // More concurrent readers than pooled connections: open one more for this call.
            None => open_connection(&self.path, true),
        }
    }

    fn return_reader(&self, conn: Connection) {
        let mut readers = self
            .readers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if readers.len() < READERS {
            readers.push(conn);
        }
    }
}

fn open_connection(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// An in-memory database with the current schema, for tests of the modules that use tables.
#[cfg(test)]
pub(crate) fn memory() -> Connection {
    let mut conn = Connection::open_in_memory().expect("in-memory SQLite opens");
    conn.pragma_update(None, "foreign_keys", "ON")
        .expect("pragma");
    migrations::migrate(&mut conn, Path::new(":memory:")).expect("migrations apply");
    conn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_write_rolls_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let result: Result<(), StoreError> = store
            .write(|tx| {
                tx.execute(
                    "INSERT INTO settings (key, value, updated_at) VALUES ('unitName', '\"x\"', 0)",
                    [],
                )?;
                Err(StoreError::Busy)
            })
            .await;
        assert!(result.is_err());
        let count: i64 = store
            .read(|c| {
                c.query_row("SELECT count(*) FROM settings", [], |r| r.get(0))
                    .map_err(StoreError::from)
            })
            .await
            .unwrap();
        assert_eq!(count, 0);
    }

    #[tokio::test]
    async fn wal_mode_is_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let mode: String = store
            .read(|c| {
                c.query_row("PRAGMA journal_mode", [], |r| r.get(0))
                    .map_err(StoreError::from)
            })
            .await
            .unwrap();
        assert_eq!(mode, "wal");
    }
}
