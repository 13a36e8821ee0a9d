//! Backup and restore of the unit's database (users, settings, templates, plugin and
//! publisher configurations, schedule, speakers, package records, audit trail).
//!
//! A backup is a tar archive of two files: `manifest.json` (what made it) and `castd.db`, a
//! consistent snapshot taken with SQLite's online backup API while castd keeps running.
//! Media files are not in it; they stay where they are and the package records point at
//! them.
//!
//! A restore is checked completely before anything changes (manifest, SQLite integrity,
//! schema version not newer than ours, castd's tables present). The checked database is
//! then staged next to the live one and castd restarts; at start, before the store opens,
//! [`apply_staged`] swaps it in (the replaced database is kept beside it). Restarting,
//! rather than swapping under the running daemon, guarantees that no part keeps state or
//! connections from the old database. The audit trail is the one thing a restore does not
//! roll back: the live rows are carried into the restored database.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::backup::{self as sql, Inspection};
use crate::store::{SCHEMA_VERSION, Store, StoreError, now_ms};

/// The `format` every castd backup manifest carries.
pub const FORMAT: &str = "castd-backup";
/// Version of the archive layout (not of the database schema).
pub const FORMAT_VERSION: i64 = 1;
const MANIFEST_ENTRY: &str = "manifest.json";
const DATABASE_ENTRY: &str = "castd.db";
/// A manifest is a few hundred bytes; anything near this is not ours.
const MAX_MANIFEST: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("not a castd backup: {0}")]
    Invalid(String),
    #[error(
        "the backup has database schema version {found}, newer than this castd supports ({supported}); restore it on a newer castd"
    )]
    NewerSchema { found: i64, supported: i64 },
    #[error("backup I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("backup database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(reason: impl Into<String>) -> BackupError {
    BackupError::Invalid(reason.into())
}

/// `manifest.json` of an archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always `castd-backup`.
    pub format: String,
    pub format_version: i64,
    /// The castd version that made the backup.
    pub castd_version: String,
    /// `PRAGMA user_version` of the database in the archive.
    pub schema_version: i64,
    /// When the backup was made, ms since the epoch.
    pub created: i64,
    /// The `unitName` setting of the unit it came from.
    pub unit_name: String,
}

/// A finished backup archive.
pub struct Archive {
    pub manifest: Manifest,
    pub bytes: Vec<u8>,
}

/// Takes a consistent snapshot of the live database and packs it with its manifest.
/// `work_dir` holds the snapshot file while the archive is built.
pub async fn create(
    store: &Store,
    unit_name: String,
    work_dir: &Path,
) -> Result<Archive, BackupError> {
    let snapshot = scratch_path(work_dir, "backup");
    let result = async {
        let version = store.snapshot_to(snapshot.clone()).await?;
        let manifest = Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            castd_version: env!("CARGO_PKG_VERSION").into(),
            schema_version: version,
            created: now_ms(),
            unit_name,
        };
        let database = snapshot.clone();
        tokio::task::spawn_blocking(move || {
            let bytes = pack(&manifest, &database)?;
            Ok::<_, BackupError>(Archive { manifest, bytes })
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
    .await;
    let _ = std::fs::remove_file(&snapshot);
    result
}

fn pack(manifest: &Manifest, database: &Path) -> Result<Vec<u8>, BackupError> {
    let mut tar = tar::Builder::new(Vec::new());
    let mtime = u64::try_from(manifest.created / 1000).unwrap_or(0);
    let manifest_json = serde_json::to_vec_pretty(manifest).expect("a manifest serialises");
    let mut header = tar::Header::new_ustar();
    header.set_size(manifest_json.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(mtime);
    tar.append_data(&mut header, MANIFEST_ENTRY, manifest_json.as_slice())?;
    let mut file = std::fs::File::open(database)?;
    let mut header = tar::Header::new_ustar();
    header.set_size(file.metadata()?.len());
    header.set_mode(0o600);
    header.set_mtime(mtime);
    tar.append_data(&mut header, DATABASE_ENTRY, &mut file)?;
    Ok(tar.into_inner()?)
}

/// A file name in `dir` no one else uses.
fn scratch_path(dir: &Path, what: &str) -> PathBuf {
    dir.join(format!(
        ".{what}-{}-{:016x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ))
}

/// Where a checked database waits for the next start.
pub fn staged_path(database: &Path) -> PathBuf {
    with_suffix(database, ".restore")
}

/// Where the database a restore replaced is kept.
pub fn replaced_path(database: &Path) -> PathBuf {
    with_suffix(database, ".before-restore")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A checked database, not yet staged; dropped unstaged, its file goes.
pub struct Checked {
    pub manifest: Manifest,
    file: PathBuf,
    database: PathBuf,
}

impl Checked {
    /// Puts the database where the next start picks it up.
    pub fn stage(mut self) -> Result<Manifest, BackupError> {
        let staged = staged_path(&self.database);
        std::fs::rename(&self.file, &staged)?;
        sync_dir(&staged);
        self.file = PathBuf::new();
        Ok(self.manifest.clone())
    }
}

impl Drop for Checked {
    fn drop(&mut self) {
        if !self.file.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.file);
        }
    }
}

/// Unpacks and checks an archive (a file) for restoring over `database`; nothing live is
/// touched. Blocking.
pub fn check(archive: &Path, database: &Path) -> Result<Checked, BackupError> {
    let dir = database.parent().unwrap_or(Path::new("."));
    let mut checked = Checked {
        manifest: Manifest {
            format: String::new(),
            format_version: 0,
            castd_version: String::new(),
            schema_version: 0,
            created: 0,
            unit_name: String::new(),
        },
        file: scratch_path(dir, "restore"),
        database: database.to_path_buf(),
    };
    let manifest = unpack(archive, &checked.file)?;
    if manifest.schema_version > SCHEMA_VERSION {
        return Err(BackupError::NewerSchema {
            found: manifest.schema_version,
            supported: SCHEMA_VERSION,
        });
    }
    check_database(&checked.file, manifest.schema_version)?;
    checked.manifest = manifest;
    Ok(checked)
}

/// Reads the manifest and writes the database entry to `database_out`.
fn unpack(archive: &Path, database_out: &Path) -> Result<Manifest, BackupError> {
    let mut tar = tar::Archive::new(std::fs::File::open(archive)?);
    let not_tar = |e: std::io::Error| invalid(format!("not a tar archive ({e})"));
    let mut manifest = None;
    let mut database = false;
    for entry in tar.entries().map_err(not_tar)? {
        let mut entry = entry.map_err(not_tar)?;
        let name = entry
            .path()
            .map_err(not_tar)?
            .to_string_lossy()
            .into_owned();
        match name.trim_start_matches("./") {
            MANIFEST_ENTRY if manifest.is_none() => {
                let mut text = Vec::new();
                (&mut entry)
                    .take(MAX_MANIFEST)
                    .read_to_end(&mut text)
                    .map_err(not_tar)?;
                let parsed: Manifest = serde_json::from_slice(&text)
                    .map_err(|e| invalid(format!("manifest.json does not parse: {e}")))?;
                manifest = Some(parsed);
            }
            DATABASE_ENTRY if !database => {
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(database_out)?;
                std::io::copy(&mut entry, &mut out).map_err(not_tar)?;
                out.flush()?;
                out.sync_all()?;
                database = true;
            }
            "" | "." => {}
            other => return Err(invalid(format!("unexpected entry {other:?}"))),
        }
    }
    let manifest = manifest.ok_or_else(|| invalid("manifest.json is missing"))?;
    if manifest.format != FORMAT {
        return Err(invalid(format!("manifest format is {:?}", manifest.format)));
    }
    if manifest.format_version > FORMAT_VERSION {
        return Err(invalid(format!(
            "archive format version {} is newer than this castd reads ({FORMAT_VERSION})",
            manifest.format_version
        )));
    }
    if !database {
        return Err(invalid("castd.db is missing"));
    }
    Ok(manifest)
}

/// Integrity, schema version as the manifest says, and castd's tables.
fn check_database(path: &Path, manifest_version: i64) -> Result<(), BackupError> {
    let Inspection {
        integrity,
        version,
        missing_table,
    } = sql::inspect(path)
        .map_err(|e| invalid(format!("castd.db is not a usable SQLite database ({e})")))?;
    if integrity != "ok" {
        return Err(invalid(format!(
            "castd.db fails the integrity check: {integrity}"
        )));
    }
    if version > SCHEMA_VERSION {
        return Err(BackupError::NewerSchema {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version < 1 || version != manifest_version {
        return Err(invalid(format!(
            "castd.db has schema version {version}, the manifest says {manifest_version}"
        )));
    }
    if let Some(table) = missing_table {
        return Err(invalid(format!("castd.db has no {table} table")));
    }
    Ok(())
}

/// At start, before the store opens: swaps a staged restore in, keeping the replaced
/// database as `<name>.before-restore`. Returns the manifest-less fact that it did.
/// The data-directory lock must be held, so no connection to the live database is open.
pub fn apply_staged(database: &Path) -> Result<bool, BackupError> {
    let staged = staged_path(database);
    if !staged.exists() {
        return Ok(false);
    }
    if database.exists() {
        if let Err(e) = sql::carry_audit(database, &staged) {
            log::warn!(
                "restore: the audit trail of the replaced database was not carried over: {e}"
            );
        }
        // One self-contained file (its WAL checkpointed into it), then out of the way.
        sql::make_self_contained(database)?;
        std::fs::rename(database, replaced_path(database))?;
    }
    for leftover in ["-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(with_suffix(database, leftover));
    }
    std::fs::rename(&staged, database)?;
    sync_dir(database);
    Ok(true)
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(dir) = std::fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store_with_user(dir: &Path) -> Store {
        let store = Store::open(&dir.join("castd.db")).unwrap();
        store
            .write(|tx| crate::store::settings::put(tx, "unitName", &serde_json::json!("Hall 3")))
            .await
            .unwrap();
        store
    }

    #[tokio::test]
    async fn an_archive_checks_stages_and_swaps_in() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_user(dir.path()).await;
        let archive = create(&store, "Hall 3".into(), dir.path()).await.unwrap();
        assert_eq!(archive.manifest.schema_version, SCHEMA_VERSION);
        let file = dir.path().join("a.tar");
        std::fs::write(&file, &archive.bytes).unwrap();

        let other = tempfile::tempdir().unwrap();
        let database = other.path().join("castd.db");
        drop(Store::open(&database).unwrap());
        let checked = check(&file, &database).unwrap();
        assert_eq!(checked.manifest.unit_name, "Hall 3");
        checked.stage().unwrap();
        assert!(apply_staged(&database).unwrap());
        assert!(replaced_path(&database).exists());
        let restored = Store::open(&database).unwrap();
        let settings = restored.read(crate::store::settings::all).await.unwrap();
        assert_eq!(settings["unitName"], "Hall 3");
        assert!(!apply_staged(&database).unwrap());
    }

    #[test]
    fn garbage_is_invalid_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.tar");
        std::fs::write(&file, b"definitely not a tar archive, nor anything else").unwrap();
        let database = dir.path().join("castd.db");
        assert!(matches!(
            check(&file, &database),
            Err(BackupError::Invalid(_))
        ));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.tar")]);
    }
}
