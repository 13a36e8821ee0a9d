//! The `local` publisher: copies a package's outputs and its manifest into a mounted folder
//! (a NAS share). Each file is written under a temporary name, synced and renamed, so the
//! folder never shows a half-copied recording; a file already there with the same size and
//! MD5 is not copied again, which makes an interrupted job resume where it stopped.
//!
//! A share is often writable by others, and package ids are visible to every viewer, so
//! anything below the configured folder may have been planted: the folders below it are
//! walked one at a time without following links, and temporaries get random names and are
//! created new (`O_EXCL|O_NOFOLLOW`), so a planted link can redirect no write.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use md5::{Digest, Md5};
use nix::errno::Errno;
use nix::fcntl::{OFlag, open, openat, renameat};
use nix::sys::stat::{Mode, mkdirat};
use nix::unistd::{UnlinkatFlags, fsync, unlinkat};
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::job::{Delivered, Failure, Job, PackageFile};
use crate::model::MANIFEST;

pub(crate) const ID: &str = "local";
pub(crate) const NAME: &str = "Copy to a mounted folder";
pub(crate) const SECRETS: &[&str] = &[];
pub(crate) const SERVICES: &[(&str, &str)] = &[];

/// Bytes per read/write step of a copy.
const STEP: usize = 1 << 20;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Config {
    pub path: PathBuf,
    /// `{id}`, `{title}` and `{date}` are replaced; default `{id}`.
    #[serde(default = "default_subfolder")]
    pub subfolder: String,
}

fn default_subfolder() -> String {
    "{id}".into()
}

pub(crate) fn parse(config: &Value) -> Result<Config, String> {
    let mut config = config.clone();
    if let Value::Object(map) = &mut config {
        // Keys of other layers (such as `enabled`) are not this publisher's concern.
        map.retain(|k, _| k == "path" || k == "subfolder");
    }
    let parsed: Config =
        serde_json::from_value(config).map_err(|e| format!("local publisher config: {e}"))?;
    if !parsed.path.is_absolute() {
        return Err("path: must be an absolute folder path".into());
    }
    let pattern = &parsed.subfolder;
    if pattern.starts_with('/')
        || pattern.split('/').any(|part| part == ".." || part == ".")
        || pattern.chars().any(char::is_control)
    {
        return Err("subfolder: must be a relative path without `.` or `..` parts".into());
    }
    Ok(parsed)
}

/// A name part safe in any file system: letters, digits, `-`, `_`, `.`; the rest becomes `_`.
fn safe_part(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    let trimmed = cleaned.trim_matches('.');
    if trimmed.is_empty() {
        "_".into()
    } else {
        trimmed.to_string()
    }
}

/// The configured folder, and the folders below it the subfolder pattern names for this
/// package (each made file-system safe).
fn destination(config: &Config, job: &Job) -> (PathBuf, Vec<String>) {
    let date = chrono::DateTime::from_timestamp_millis(job.package.creation_date)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let sub = config
        .subfolder
        .replace("{id}", &safe_part(&job.package.id))
        .replace("{title}", &safe_part(&job.package.title))
        .replace("{date}", &safe_part(&date));
    let parts = sub
        .split('/')
        .filter(|p| !p.is_empty())
        .map(safe_part)
        .collect();
    (config.path.clone(), parts)
}

/// Runs file system work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Failure::io(e.to_string()))?
}

/// Opens the destination folder: the configured folder as it is (an Administrator may
/// point it through a link, to a mount for example), then each folder below it, created
/// when missing and opened without following a link.
fn open_destination(root: &Path, parts: &[String]) -> Result<OwnedFd, Failure> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let mut dir = open(root, flags, Mode::empty())
        .map_err(|e| Failure::unreachable(format!("cannot open {}: {e}", root.display())))?;
    let mut here = root.to_path_buf();
    for part in parts {
        here.push(part);
        match mkdirat(&dir, part.as_str(), Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => {
                return Err(Failure::unreachable(format!(
                    "cannot create {}: {e}",
                    here.display()
                )));
            }
        }
        dir = openat(
            &dir,
            part.as_str(),
            flags | OFlag::O_NOFOLLOW,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::ELOOP | Errno::ENOTDIR => Failure::unsafe_target(format!(
                "{} is a link or not a folder; links below the configured folder are not followed",
                here.display()
            )),
            e => Failure::io(format!("cannot open {}: {e}", here.display())),
        })?;
    }
    Ok(dir)
}

/// A new temporary file beside `name`: a random name, created new, never through a link.
fn create_temporary(folder: &OwnedFd, name: &str) -> std::io::Result<(String, std::fs::File)> {
    let stem: String = name.chars().take(100).collect();
    let temporary = format!(".{stem}.{:016x}.partial", rand::random::<u64>());
    let fd = openat(
        folder,
        temporary.as_str(),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    )?;
    Ok((temporary, std::fs::File::from(fd)))
}

/// Moves a finished temporary to `name` (replacing whatever is there, a link included,
/// without following it) and makes the rename durable.
fn settle(folder: &OwnedFd, temporary: &str, name: &str) -> std::io::Result<()> {
    renameat(folder, temporary, folder, name)?;
    fsync(folder)?;
    Ok(())
}

fn discard(folder: &OwnedFd, temporary: &str) {
    let _ = unlinkat(folder, temporary, UnlinkatFlags::NoRemoveDir);
}

/// The name a package file gets in the destination folder: one name, no folders.
fn target_name(file: &PackageFile) -> String {
    let name = file.name.replace('/', "_");
    if matches!(name.as_str(), "" | "." | "..") {
        safe_part(&name)
    } else {
        name
    }
}

pub(crate) async fn test(_http: &reqwest::Client, config: &Config) -> Result<String, Failure> {
    let path = config.path.clone();
    blocking(move || {
        let meta = std::fs::metadata(&path)
            .map_err(|e| Failure::unreachable(format!("{}: {e}", path.display())))?;
        if !meta.is_dir() {
            return Err(Failure::invalid_config(format!(
                "{} is not a folder",
                path.display()
            )));
        }
        let cannot_write =
            |e: std::io::Error| Failure::auth(format!("cannot write into {}: {e}", path.display()));
        let folder = open_destination(&path, &[])?;
        let (probe, file) = create_temporary(&folder, "castd-probe").map_err(cannot_write)?;
        drop(file);
        discard(&folder, &probe);
        Ok(format!("{} is writable", path.display()))
    })
    .await
}

pub(crate) async fn publish(job: &Job, config: &Config) -> Result<Delivered, Failure> {
    job.proceed().await?;
    let (root, parts) = destination(config, job);
    let shown = parts
        .iter()
        .fold(root.clone(), |path, part| path.join(part));
    let folder = Arc::new(blocking(move || open_destination(&root, &parts)).await?);
    job.set_total(job.files.iter().map(|f| f.size).sum());
    for file in &job.files {
        job.proceed().await?;
        let name = target_name(file);
        if already_there(&folder, file, &name).await? {
            job.add_done(file.size);
            continue;
        }
        copy(job, file, &folder, &name).await?;
    }
    let manifest = job.manifest.clone();
    blocking(move || {
        let fail = |e: std::io::Error| Failure::io(format!("cannot write the manifest: {e}"));
        let (temporary, mut file) = create_temporary(&folder, MANIFEST).map_err(fail)?;
        let written = std::io::Write::write_all(&mut file, &manifest)
            .and_then(|()| file.sync_all())
            .and_then(|()| settle(&folder, &temporary, MANIFEST));
        if let Err(e) = written {
            discard(&folder, &temporary);
            return Err(fail(e));
        }
        Ok(())
    })
    .await?;
    Ok(Delivered {
        url: Some(format!("file://{}", shown.display())),
        remote_id: None,
    })
}

pub(crate) async fn service(
    _http: &reqwest::Client,
    _config: &Config,
    name: &str,
    _args: &Value,
) -> Result<Value, Failure> {
    Err(Failure::invalid_config(format!(
        "the local publisher has no service {name:?}"
    )))
}

/// Whether `name` in the folder already holds exactly this file (a link never does).
async fn already_there(
    folder: &Arc<OwnedFd>,
    file: &PackageFile,
    name: &str,
) -> Result<bool, Failure> {
    let folder = folder.clone();
    let name = name.to_string();
    // Non-blocking, so a planted FIFO cannot hold the open.
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let existing =
        blocking(move || Ok(openat(&*folder, name.as_str(), flags, Mode::empty()).ok())).await?;
    let Some(fd) = existing else {
        return Ok(false);
    };
    let theirs = std::fs::File::from(fd);
    let meta = theirs
        .metadata()
        .map_err(|e| Failure::io(format!("cannot inspect a copy: {e}")))?;
    if !meta.is_file() || meta.len() != file.size {
        return Ok(false);
    }
    let ours = std::fs::File::open(&file.path)
        .map_err(|e| Failure::io(format!("{}: {e}", file.path.display())))?;
    Ok(md5_of(ours).await? == md5_of(theirs).await?)
}

async fn md5_of(mut file: std::fs::File) -> Result<String, Failure> {
    blocking(move || {
        use std::io::Read;
        let mut hasher = Md5::new();
        let mut buf = vec![0u8; STEP];
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| Failure::io(e.to_string()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hex(&hasher.finalize()))
    })
    .await
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn copy(
    job: &Job,
    file: &PackageFile,
    folder: &Arc<OwnedFd>,
    name: &str,
) -> Result<(), Failure> {
    let fail = |what: &str, e: std::io::Error| Failure::io(format!("{what}: {e}"));
    let mut from = tokio::fs::File::open(&file.path)
        .await
        .map_err(|e| fail("cannot open the recording", e))?;
    let (temporary, to) = {
        let (folder, name) = (folder.clone(), name.to_string());
        blocking(move || {
            create_temporary(&folder, &name).map_err(|e| fail("cannot create the copy", e))
        })
        .await?
    };
    let mut to = tokio::fs::File::from_std(to);
    let copied = async {
        let mut buf = vec![0u8; STEP];
        loop {
            job.proceed().await?;
            let n = from
                .read(&mut buf)
                .await
                .map_err(|e| fail("cannot read the recording", e))?;
            if n == 0 {
                break;
            }
            job.admit(n).await;
            to.write_all(&buf[..n])
                .await
                .map_err(|e| fail("cannot write the copy", e))?;
            job.add_done(n as u64);
        }
        to.sync_all()
            .await
            .map_err(|e| fail("cannot sync the copy", e))
    }
    .await;
    drop(to);
    let folder = folder.clone();
    let name = name.to_string();
    blocking(move || {
        let settled = copied.and_then(|()| {
            settle(&folder, &temporary, &name).map_err(|e| fail("cannot rename the copy", e))
        });
        if settled.is_err() {
            // A random name is never reused: a failed attempt must not leave it behind.
            discard(&folder, &temporary);
        }
        settled
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn folders_are_absolute_and_patterns_cannot_climb_out() {
        assert!(parse(&json!({"path": "/mnt/nas"})).is_ok());
        assert!(
            parse(&json!({"path": "nas"}))
                .unwrap_err()
                .starts_with("path")
        );
        assert!(
            parse(&json!({"path": "/mnt", "subfolder": "../etc"}))
                .unwrap_err()
                .starts_with("subfolder")
        );
        assert!(parse(&json!({"path": "/mnt", "subfolder": "/abs"})).is_err());
        assert_eq!(safe_part("Lecture 1: a/b"), "Lecture_1__a_b");
        assert_eq!(safe_part(".."), "_");
    }
}
