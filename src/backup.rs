//! Backup and restore of the unit's database (users, settings, templates, plugin and
//! publisher configurations, schedule, speakers, package records, audit trail).
//!
//! A backup is a tar archive of two files: `manifest.json` (what made it) and `castd.db`, a
//! consistent snapshot taken with SQLite's online backup API while castd keeps running.
//! The snapshot is a file in the data directory and the archive is streamed from it, so
//! sending a backup costs a chunk of memory, not the size of the database. Media files are
//! not in it; they stay where they are and the package records point at them.
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

use bytes::Bytes;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt as _;
use utoipa::ToSchema;

use crate::store::backup::{self as sql, Inspection};
use crate::store::{SCHEMA_VERSION, Store, StoreError};
use crate::sys::time::now_ms;

/// The `format` every castd backup manifest carries.
pub(crate) const FORMAT: &str = "castd-backup";
/// Version of the archive layout (not of the database schema).
pub(crate) const FORMAT_VERSION: i64 = 1;
const MANIFEST_ENTRY: &str = "manifest.json";
const DATABASE_ENTRY: &str = "castd.db";
/// A manifest is a few hundred bytes; anything near this is not ours.
const MAX_MANIFEST: u64 = 64 * 1024;
/// The largest database a restore unpacks (as large as the largest upload it takes).
pub(crate) const MAX_DATABASE_BYTES: u64 = 1024 * 1024 * 1024;
/// Free space a restore leaves on the data directory's file system after unpacking, so a
/// large archive cannot fill the disk the recordings and the live database need.
const SPACE_RESERVE: u64 = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("not a castd backup: {0}")]
    Invalid(String),
    #[error(
        "the backup has database schema version {found}, newer than this castd supports ({supported}); restore it on a newer castd"
    )]
    NewerSchema { found: i64, supported: i64 },
    #[error(
        "castd.db in the archive is {size} bytes; at most {limit} can be unpacked here (1 GiB, less when the data directory lacks the space)"
    )]
    TooLarge { size: u64, limit: u64 },
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

/// The bytes of an archive as they are sent.
pub(crate) type ArchiveStream = futures_util::stream::BoxStream<'static, std::io::Result<Bytes>>;

/// A backup archive ready to be sent: its manifest, its exact size, and its bytes as a
/// stream. Only the stream holds the snapshot, a file already unlinked from the data
/// directory, so it goes when the stream does (sent, dropped, or castd stopped).
pub struct Archive {
    pub manifest: Manifest,
    /// The archive's length in bytes.
    pub size: u64,
    pub body: ArchiveStream,
}

/// Bytes read from the snapshot at a time: the memory an archive costs while it is sent,
/// whatever the size of the database.
const CHUNK: usize = 64 * 1024;
/// A tar block; headers are one, contents are padded to whole ones.
const BLOCK: u64 = 512;

/// Takes a consistent snapshot of the live database (a file in `work_dir`) and returns the
/// archive of it and its manifest, to be streamed from disk.
pub(crate) async fn create(
    store: &Store,
    unit_name: String,
    work_dir: &Path,
) -> Result<Archive, BackupError> {
    let snapshot = scratch_path(work_dir, "backup");
    // Opened, then unlinked at once: from here on nothing can leave the file behind.
    let opened = match store.snapshot_to(snapshot.clone()).await {
        Ok(version) => match tokio::fs::File::open(&snapshot).await {
            Ok(file) => Ok((version, file)),
            Err(e) => Err(BackupError::from(e)),
        },
        Err(e) => Err(BackupError::from(e)),
    };
    let _ = tokio::fs::remove_file(&snapshot).await;
    let (version, file) = opened?;
    let database_size = file.metadata().await?.len();
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        castd_version: env!("CARGO_PKG_VERSION").into(),
        schema_version: version,
        created: now_ms(),
        unit_name,
    };
    let (head, tail) = frame(&manifest, database_size)?;
    let size = head.len() as u64 + database_size + tail.len() as u64;
    let body = futures_util::stream::once(async move { Ok(head) })
        .chain(read_exactly(file, database_size))
        .chain(futures_util::stream::once(async move { Ok(tail) }))
        .boxed();
    Ok(Archive {
        manifest,
        size,
        body,
    })
}

/// The archive around the database's bytes: before them the manifest's member and the
/// database's header, after them the database's padding and the end-of-archive blocks.
#[expect(clippy::expect_used, reason = "invariant: a manifest serialises")]
fn frame(manifest: &Manifest, database_size: u64) -> Result<(Bytes, Bytes), BackupError> {
    let mtime = u64::try_from(manifest.created / 1000).unwrap_or(0);
    let manifest_json = serde_json::to_vec_pretty(manifest).expect("a manifest serialises");
    let mut head = Vec::new();
    head.extend_from_slice(
        member_header(MANIFEST_ENTRY, manifest_json.len() as u64, mtime)?.as_bytes(),
    );
    head.extend_from_slice(&manifest_json);
    head.resize(head.len() + padding(manifest_json.len() as u64), 0);
    head.extend_from_slice(member_header(DATABASE_ENTRY, database_size, mtime)?.as_bytes());
    let tail = vec![0; padding(database_size) + 2 * BLOCK as usize];
    Ok((Bytes::from(head), Bytes::from(tail)))
}

fn member_header(name: &str, size: u64, mtime: u64) -> std::io::Result<tar::Header> {
    let mut header = tar::Header::new_ustar();
    header.set_path(name)?;
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(mtime);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    Ok(header)
}

/// Zero bytes that fill a member of `size` bytes to whole blocks.
fn padding(size: u64) -> usize {
    ((BLOCK - size % BLOCK) % BLOCK) as usize
}

/// Exactly `size` bytes of `file`, [`CHUNK`] at a time; a file that ends early is an
/// error, so a client never gets an archive that looks complete but is not.
fn read_exactly(file: tokio::fs::File, size: u64) -> ArchiveStream {
    futures_util::stream::try_unfold((file, size), |(mut file, left)| async move {
        if left == 0 {
            return Ok(None);
        }
        let mut chunk = vec![0; CHUNK.min(usize::try_from(left).unwrap_or(CHUNK))];
        let n = file.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the database snapshot ended early",
            ));
        }
        chunk.truncate(n);
        Ok(Some((Bytes::from(chunk), (file, left - n as u64))))
    })
    .boxed()
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
pub(crate) fn staged_path(database: &Path) -> PathBuf {
    with_suffix(database, ".restore")
}

/// Where the database a restore replaced is kept.
pub(crate) fn replaced_path(database: &Path) -> PathBuf {
    with_suffix(database, ".before-restore")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A checked database, not yet staged; dropped unstaged, its file goes.
pub(crate) struct Checked {
    pub manifest: Manifest,
    file: PathBuf,
    database: PathBuf,
}

impl Checked {
    /// Puts the database where the next start picks it up.
    pub(crate) fn stage(mut self) -> Result<Manifest, BackupError> {
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
pub(crate) fn check(archive: &Path, database: &Path) -> Result<Checked, BackupError> {
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
///
/// Only regular files are read: a sparse member would unpack to far more than the archive
/// holds, and links or devices have no business in a backup. The database is written only
/// if it fits under [`MAX_DATABASE_BYTES`] and the data directory's free space, and the
/// bytes are counted as they are written.
fn unpack(archive: &Path, database_out: &Path) -> Result<Manifest, BackupError> {
    let mut tar = tar::Archive::new(std::fs::File::open(archive)?);
    let not_tar = |e: std::io::Error| invalid(format!("not a tar archive ({e})"));
    let mut manifest = None;
    let mut database = false;
    // Raw: extension members (pax headers, GNU long names) come as they are, to be refused
    // below, instead of being read whole into memory or changing the next member's size.
    for entry in tar.entries().map_err(not_tar)?.raw(true) {
        let mut entry = entry.map_err(not_tar)?;
        let name = entry
            .path()
            .map_err(not_tar)?
            .to_string_lossy()
            .into_owned();
        let name = name.trim_start_matches("./");
        let kind = entry.header().entry_type();
        if matches!(name, "" | ".") && kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(invalid(format!(
                "entry {name:?} is a {}; a backup holds only regular files",
                kind_name(kind)
            )));
        }
        match name {
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
                let size = entry.header().entry_size().map_err(not_tar)?;
                let limit = database_limit(database_out)?;
                if size > limit {
                    return Err(BackupError::TooLarge { size, limit });
                }
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(database_out)?;
                let written =
                    std::io::copy(&mut (&mut entry).take(size), &mut out).map_err(not_tar)?;
                if written != size {
                    return Err(invalid(format!(
                        "castd.db ends after {written} of its {size} bytes"
                    )));
                }
                out.flush()?;
                out.sync_all()?;
                database = true;
            }
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

/// The largest database that may be unpacked next to `database_out`: [`MAX_DATABASE_BYTES`],
/// or less when the file system would keep under [`SPACE_RESERVE`] free.
fn database_limit(database_out: &Path) -> Result<u64, BackupError> {
    let dir = database_out.parent().unwrap_or(Path::new("."));
    let available = crate::sys::disk::usage(dir)?.available;
    Ok(MAX_DATABASE_BYTES.min(available.saturating_sub(SPACE_RESERVE)))
}

fn kind_name(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::GNUSparse => "sparse file",
        tar::EntryType::Symlink => "symbolic link",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char | tar::EntryType::Block => "device",
        tar::EntryType::Fifo => "named pipe",
        tar::EntryType::Directory => "directory",
        tar::EntryType::XHeader | tar::EntryType::XGlobalHeader => "pax extension header",
        tar::EntryType::GNULongName | tar::EntryType::GNULongLink => "GNU long-name header",
        _ => "special member",
    }
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
pub(crate) fn apply_staged(database: &Path) -> Result<bool, BackupError> {
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
    use futures_util::TryStreamExt as _;

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
        let size = archive.size;
        let bytes: Vec<u8> = archive
            .body
            .map_ok(|chunk| chunk.to_vec())
            .try_concat()
            .await
            .unwrap();
        assert_eq!(bytes.len() as u64, size);
        // The snapshot is gone from the data directory once the archive is made.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(names.is_empty(), "{names:?}");
        // What the tar crate reads back: the two members, whole.
        let mut members = Vec::new();
        for entry in tar::Archive::new(bytes.as_slice()).entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            members.push((entry.path().unwrap().display().to_string(), content.len()));
        }
        assert_eq!(members[0].0, MANIFEST_ENTRY);
        assert_eq!(members[1].0, DATABASE_ENTRY);
        assert_eq!(members[1].1 % 4096, 0, "whole SQLite pages");
        let file = dir.path().join("a.tar");
        std::fs::write(&file, &bytes).unwrap();

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
