//! Media packages on disk and in the store: one directory per package under the media
//! directory, holding its files and a `manifest.json`, so a package can be understood even
//! without the database. Also the one place that turns a client-supplied file name into a
//! path, and refuses any that would leave the package directory. The rules of what a
//! client may change in a package (fields, attached outputs) are here too.

use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::model::{
    MANIFEST, Marker, MediaPackage, Metadata, Output, PackageId, PackageState, RuleBroken, Tags,
    Title,
};
use crate::publish::manifest::manifest;
use crate::store::{self, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("no media package {0:?}")]
    NotFound(PackageId),
    #[error("media package {id} is {reason}")]
    Busy { id: String, reason: String },
    #[error("invalid path {0:?}: it must name a file inside the package")]
    BadPath(String),
    #[error("no output {0:?}")]
    NoOutput(String),
    #[error("{0}")]
    Invalid(String),
    #[error("file system: {0}")]
    Io(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Resolves `relative` inside `root`, refusing absolute paths, `..`, and symlinks that lead
/// outside `root`. The file must exist.
pub(crate) fn safe_join(root: &Path, relative: &str) -> Result<PathBuf, PackageError> {
    let bad = || PackageError::BadPath(relative.to_string());
    let rel = Path::new(relative);
    if relative.is_empty()
        || relative.contains('\0')
        || !rel.components().all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(bad());
    }
    let root = std::fs::canonicalize(root).map_err(|e| PackageError::Io(e.to_string()))?;
    let full = std::fs::canonicalize(root.join(rel)).map_err(|_| bad())?;
    if !full.starts_with(&root) || !full.is_file() {
        return Err(bad());
    }
    Ok(full)
}

/// Package ids are generated here; ones from URLs are checked before use.
pub(crate) fn is_package_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// A new, sortable package id: UTC time and a random suffix.
pub(crate) fn new_id() -> String {
    let now = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    let suffix: u32 = rand::random();
    format!("{now}-{:06x}", suffix & 0xff_ffff)
}

/// Writes `bytes` to `path` so that a crash leaves the old or the new content, never half.
/// The temporary file has a random name and is created new, never through a link, so a
/// link planted under the name it would have cannot redirect the write.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        });
    if let Err(e) = written {
        // A full disk must not also collect half-written temporary files.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// A package as clients see it: secrets given in its request's `publishingOverrides` are
/// masked like stored configurations (the database keeps them for publishing).
pub(crate) fn shown(mut package: MediaPackage) -> MediaPackage {
    if let Some(overrides) = &package.request.publishing_overrides {
        package.request.publishing_overrides = Some(crate::publish::overrides::masked(overrides));
    }
    package
}

/// Fields of a package that can be changed.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PackageChanges {
    pub title: Option<String>,
    pub tags: Option<Vec<String>>,
    #[schema(value_type = Object)]
    pub metadata: Option<Map<String, Value>>,
    /// A speaker id, name or Speaker object; `0` or `null` removes the speaker.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Value)]
    pub speaker: Option<Value>,
    /// As answered with the same `speaker`: kept as it is (see Event).
    #[serde(default, rename = "speakerInfo", deserialize_with = "present")]
    #[schema(value_type = Object)]
    pub speaker_info: Option<Value>,
}

/// A field that was sent, `null` included (serde reads a `null` Option as absent).
fn present<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(de).map(Some)
}

/// Refuses changes to a package that is being recorded or processed.
pub(crate) fn settled(package: &MediaPackage) -> Result<(), PackageError> {
    if matches!(
        package.state,
        PackageState::Capturing | PackageState::Processing
    ) {
        return Err(PackageError::Busy {
            id: package.id.clone(),
            reason: format!("{:?}", package.state).to_lowercase(),
        });
    }
    Ok(())
}

/// Applies the title, tags and metadata of `changes` to `package`, each checked first;
/// the speaker fields are left to the caller, which settles them with the speakers.
pub(crate) fn apply_fields(
    package: &mut MediaPackage,
    changes: &mut PackageChanges,
) -> Result<(), PackageError> {
    let broken = |e: RuleBroken| PackageError::Invalid(format!("{}: {e}", e.field));
    if let Some(title) = changes.title.take() {
        // A package is listed and published by its title: it keeps one.
        if title.trim().is_empty() {
            return Err(PackageError::Invalid("title must not be blank".into()));
        }
        package.title = Title::try_from(title).map_err(broken)?.into_string();
    }
    if let Some(tags) = changes.tags.take() {
        package.tags = Tags::try_from(tags).map_err(broken)?.into_vec();
    }
    if let Some(metadata) = changes.metadata.take() {
        package.metadata = Metadata::try_from(metadata).map_err(broken)?.into_map();
    }
    Ok(())
}

/// Checks an output a client attaches: its entry name and MIME type.
pub(crate) fn check_output(output: &Output) -> Result<(), PackageError> {
    let entry_ok = !output.entry.is_empty()
        && output.entry.len() <= 64
        && output
            .entry
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !entry_ok {
        return Err(PackageError::Invalid(
            "entry must be 1-64 of letters, digits, - _ .".into(),
        ));
    }
    if output.mime.parse::<mime::Mime>().is_err() {
        return Err(PackageError::Invalid(format!(
            "type {:?} is not a MIME type",
            output.mime
        )));
    }
    Ok(())
}

/// Cheap, cloneable handle to the packages.
#[derive(Clone)]
pub struct Packages {
    store: Store,
    media_dir: PathBuf,
}

/// Which packages to list.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub limit: i64,
    pub offset: i64,
    pub since: Option<i64>,
    pub tag: Option<String>,
}

impl Packages {
    pub fn new(store: Store, media_dir: PathBuf) -> Packages {
        Packages { store, media_dir }
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.media_dir.join(id)
    }

    /// Stores the package and writes its manifest.
    /// The database row is the record and is written first; the directory's manifest is a
    /// copy, so a media disk too full to take it (the disk guard came too late) does not
    /// leave the package unfinished: the failure is logged and the next save writes it.
    pub async fn save(&self, package: &MediaPackage) -> Result<(), PackageError> {
        let stored = package.clone();
        self.store
            .write(move |tx| store::packages::put(tx, &stored).map_err(PackageError::from))
            .await?;
        let dir = self.dir(&package.id);
        let json = manifest(package);
        let written = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)
                .and_then(|()| write_atomically(&dir.join(MANIFEST), &json))
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))
        .and_then(|r| r);
        if let Err(e) = written {
            log::warn!(
                "{MANIFEST} of media package {} not written: {e}",
                package.id
            );
        }
        Ok(())
    }

    /// Appends a marker to a stored package; the package row and its manifest are not
    /// rewritten (the manifest gets the marker at the next [`Packages::save`]).
    pub async fn add_marker(&self, package_id: &str, marker: &Marker) -> Result<(), PackageError> {
        let (id, marker) = (package_id.to_string(), marker.clone());
        Ok(self
            .store
            .write(move |tx| store::packages::add_marker(tx, &id, &marker))
            .await?)
    }

    pub async fn get(&self, id: &str) -> Result<MediaPackage, PackageError> {
        if !is_package_id(id) {
            return Err(PackageError::NotFound(id.into()));
        }
        let key = id.to_string();
        self.store
            .read(move |c| store::packages::get(c, &key))
            .await?
            .ok_or_else(|| PackageError::NotFound(id.into()))
    }

    pub async fn list(&self, query: Query) -> Result<(Vec<MediaPackage>, i64), PackageError> {
        Ok(self
            .store
            .read(move |c| {
                store::packages::list(
                    c,
                    query.limit,
                    query.offset,
                    query.since,
                    query.tag.as_deref(),
                )
            })
            .await?)
    }

    pub async fn unfinished(&self) -> Result<Vec<MediaPackage>, PackageError> {
        Ok(self.store.read(store::packages::unfinished).await?)
    }

    /// Deletes a package and its files; refused while it records or is being processed.
    pub async fn delete(&self, id: &str) -> Result<(), PackageError> {
        let package = self.get(id).await?;
        if matches!(
            package.state,
            PackageState::Capturing | PackageState::Processing
        ) {
            return Err(PackageError::Busy {
                id: id.to_string(),
                reason: format!("{:?}", package.state).to_lowercase(),
            });
        }
        let key = id.to_string();
        let deleted = self
            .store
            .write(move |tx| {
                // Checked in the same transaction that deletes, so no upload can be queued
                // in between and lose its media.
                if store::publish::package_busy(tx, &key)? {
                    return Ok(false);
                }
                store::publish::delete_package_jobs(tx, &key)?;
                store::packages::delete(tx, &key)?;
                Ok::<_, PackageError>(true)
            })
            .await?;
        if !deleted {
            return Err(PackageError::Busy {
                id: id.to_string(),
                reason: "publishing".into(),
            });
        }
        let dir = self.dir(id);
        tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
        .await
        .map_err(|e| PackageError::Io(e.to_string()))?
        .map_err(|e| PackageError::Io(e.to_string()))
    }

    /// Fills in the size, checksum and duration of `output`, a file already inside the
    /// package directory (read off the async threads: it may be large).
    pub async fn measure(&self, id: &str, output: &mut Output) -> Result<(), PackageError> {
        let path = safe_join(&self.dir(id), &output.file)?;
        let facts = tokio::task::spawn_blocking(move || crate::media::finalize::facts(&path))
            .await
            .map_err(|e| PackageError::Io(e.to_string()))?
            .map_err(|e| PackageError::Io(e.to_string()))?;
        output.size = Some(facts.size);
        output.md5 = Some(facts.md5);
        output.duration = facts.duration_ms;
        Ok(())
    }

    /// The path of an output of a package.
    pub fn output_path(
        &self,
        package: &MediaPackage,
        entry: &str,
    ) -> Result<PathBuf, PackageError> {
        let output = package
            .outputs
            .get(entry)
            .ok_or_else(|| PackageError::NoOutput(entry.to_string()))?;
        safe_join(&self.dir(&package.id), &output.file)
    }

    /// Removes directories of pipelines that were prepared ("armed") but never recorded.
    pub fn remove_staging_dirs(&self) {
        let Ok(entries) = std::fs::read_dir(&self.media_dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            if entry.path().join(STAGING_MARK).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Marks a directory prepared for a recording that has not started.
pub(crate) const STAGING_MARK: &str = ".staging";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_never_leave_the_package() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("pkg");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.mp4"), b"x").unwrap();
        std::fs::write(root.join("sub/b.jpg"), b"x").unwrap();
        std::fs::write(dir.path().join("secret"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("link")).unwrap();
        assert!(safe_join(&root, "a.mp4").is_ok());
        assert!(safe_join(&root, "sub/b.jpg").is_ok());
        for bad in [
            "../secret",
            "/etc/passwd",
            "sub/../../secret",
            "link",
            "",
            "sub",
            "nothing.mp4",
            "a.mp4\0x",
            "./a.mp4",
        ] {
            assert!(safe_join(&root, bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn ids_are_sortable_and_safe() {
        let a = new_id();
        assert!(is_package_id(&a), "{a}");
        assert_eq!(a.len(), "20261123-061500-a1b2c3".len());
        assert!(!is_package_id("../x"));
        assert!(!is_package_id(""));
    }
}
