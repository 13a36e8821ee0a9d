//! The `local` publisher: copies a package's outputs and its manifest into a mounted folder
//! (a NAS share). Each file is written under a temporary name, synced and renamed, so the
//! folder never shows a half-copied recording; a file already there with the same size and
//! MD5 is not copied again, which makes an interrupted job resume where it stopped.

use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::job::{Delivered, Failure, Job, PackageFile};
use crate::packages::write_atomically;

pub const ID: &str = "local";
pub const NAME: &str = "Copy to a mounted folder";
pub const SECRETS: &[&str] = &[];
pub const SERVICES: &[(&str, &str)] = &[];

/// Bytes per read/write step of a copy.
const STEP: usize = 1 << 20;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    pub path: PathBuf,
    /// `{id}`, `{title}` and `{date}` are replaced; default `{id}`.
    #[serde(default = "default_subfolder")]
    pub subfolder: String,
}

fn default_subfolder() -> String {
    "{id}".into()
}

pub fn parse(config: &Value) -> Result<Config, String> {
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

fn destination(config: &Config, job: &Job) -> PathBuf {
    let date = chrono::DateTime::from_timestamp_millis(job.package.creation_date)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let sub = config
        .subfolder
        .replace("{id}", &safe_part(&job.package.id))
        .replace("{title}", &safe_part(&job.package.title))
        .replace("{date}", &safe_part(&date));
    let mut dest = config.path.clone();
    for part in sub.split('/').filter(|p| !p.is_empty()) {
        dest.push(safe_part(part));
    }
    dest
}

pub async fn test(_http: &reqwest::Client, config: &Config) -> Result<String, Failure> {
    let path = config.path.clone();
    tokio::task::spawn_blocking(move || -> Result<String, Failure> {
        let meta = std::fs::metadata(&path)
            .map_err(|e| Failure::unreachable(format!("{}: {e}", path.display())))?;
        if !meta.is_dir() {
            return Err(Failure::invalid_config(format!(
                "{} is not a folder",
                path.display()
            )));
        }
        let probe = path.join(format!(".castd-probe-{}", std::process::id()));
        std::fs::write(&probe, b"probe")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|e| Failure::auth(format!("cannot write into {}: {e}", path.display())))?;
        Ok(format!("{} is writable", path.display()))
    })
    .await
    .map_err(|e| Failure::io(e.to_string()))?
}

pub async fn publish(job: &Job, config: &Config) -> Result<Delivered, Failure> {
    job.proceed().await?;
    let dest = destination(config, job);
    tokio::fs::create_dir_all(&dest)
        .await
        .map_err(|e| Failure::unreachable(format!("cannot create {}: {e}", dest.display())))?;
    job.set_total(job.files.iter().map(|f| f.size).sum());
    for file in &job.files {
        job.proceed().await?;
        let target = dest.join(file.name.replace('/', "_"));
        if already_there(file, &target).await? {
            job.add_done(file.size);
            continue;
        }
        copy(job, file, &target).await?;
    }
    let manifest = serde_json::to_vec_pretty(&job.package).expect("packages serialise");
    let manifest_path = dest.join(crate::packages::MANIFEST);
    tokio::task::spawn_blocking(move || write_atomically(&manifest_path, &manifest))
        .await
        .map_err(|e| Failure::io(e.to_string()))?
        .map_err(|e| Failure::io(format!("cannot write the manifest: {e}")))?;
    Ok(Delivered {
        url: Some(format!("file://{}", dest.display())),
        remote_id: None,
    })
}

pub async fn service(
    _http: &reqwest::Client,
    _config: &Config,
    name: &str,
    _args: &Value,
) -> Result<Value, Failure> {
    Err(Failure::invalid_config(format!(
        "the local publisher has no service {name:?}"
    )))
}

/// Whether `target` already holds exactly this file.
async fn already_there(file: &PackageFile, target: &Path) -> Result<bool, Failure> {
    let Ok(meta) = tokio::fs::metadata(target).await else {
        return Ok(false);
    };
    if meta.len() != file.size {
        return Ok(false);
    }
    let (ours, theirs) = (md5_of(&file.path).await?, md5_of(target).await?);
    Ok(ours == theirs)
}

async fn md5_of(path: &Path) -> Result<String, Failure> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        use std::io::Read;
        let mut f = std::fs::File::open(&path)?;
        let mut hasher = Md5::new();
        let mut buf = vec![0u8; STEP];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hex(&hasher.finalize()))
    })
    .await
    .map_err(|e| Failure::io(e.to_string()))?
    .map_err(|e| Failure::io(e.to_string()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn copy(job: &Job, file: &PackageFile, target: &Path) -> Result<(), Failure> {
    let partial = target.with_extension("partial");
    let fail = |what: &str, e: std::io::Error| Failure::io(format!("{what}: {e}"));
    let mut from = tokio::fs::File::open(&file.path)
        .await
        .map_err(|e| fail("cannot open the recording", e))?;
    let mut to = tokio::fs::File::create(&partial)
        .await
        .map_err(|e| fail("cannot create the copy", e))?;
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
        .map_err(|e| fail("cannot sync the copy", e))?;
    drop(to);
    tokio::fs::rename(&partial, target)
        .await
        .map_err(|e| fail("cannot rename the copy", e))?;
    if let Some(dir) = target.parent()
        && let Ok(d) = tokio::fs::File::open(dir).await
    {
        let _ = d.sync_all().await;
    }
    Ok(())
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
