//! Where castctl finds castd and its credentials: flags, then `CASTD_URL`, `CASTD_USER`,
//! `CASTD_PASSWORD` (both handled by clap), then the user's config file.
//!
//! The file may hold a password, so it is refused unless only its owner can read it (like
//! ssh does with keys): a world-readable password is a leak to report, not to use.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Failure;

pub(super) const DEFAULT_URL: &str = "http://127.0.0.1:8080";
pub(super) const DEFAULT_USER: &str = "admin";
pub(super) const CONFIG_FILE_NAME: &str = "castd/castctl.toml";

/// Who to talk to, as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Credentials {
    pub url: String,
    pub user: String,
    /// None: requests go without credentials (enough for a unit with `publicStatus`).
    pub password: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCredentials {
    url: Option<String>,
    user: Option<String>,
    password: Option<String>,
}

/// `$XDG_CONFIG_HOME/castd/castctl.toml`, else `~/.config/castd/castctl.toml`.
pub(super) fn config_path() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".config"),
    };
    Some(base.join(CONFIG_FILE_NAME))
}

/// Completes what the command line and environment gave from the config file (read only
/// when something is missing), then from the defaults.
pub(super) fn resolve(
    url: Option<String>,
    user: Option<String>,
    password: Option<String>,
    file: Option<&Path>,
) -> Result<Credentials, Failure> {
    let from_file = if url.is_none() || user.is_none() || password.is_none() {
        match file {
            Some(path) => read_file(path)?,
            None => FileCredentials::default(),
        }
    } else {
        FileCredentials::default()
    };
    Ok(Credentials {
        url: url.or(from_file.url).unwrap_or_else(|| DEFAULT_URL.into()),
        user: user
            .or(from_file.user)
            .unwrap_or_else(|| DEFAULT_USER.into()),
        password: password.or(from_file.password),
    })
}

fn read_file(path: &Path) -> Result<FileCredentials, Failure> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileCredentials::default()),
        Err(e) => {
            return Err(Failure::Usage(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    if !meta.is_file() {
        return Err(Failure::Usage(format!("{} is not a file", path.display())));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Failure::Usage(format!(
            "refusing to read {}: its mode is {mode:04o}, so others can read the password in it; \
             make it private with: chmod 600 {}",
            path.display(),
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
    toml::from_str(&text)
        .map_err(|e| Failure::Usage(format!("invalid {}: {}", path.display(), e.message())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str, mode: u32) -> PathBuf {
        let path = dir.join("castctl.toml");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn flags_win_and_the_file_fills_the_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "url = \"http://unit:8080\"\nuser = \"tech\"\npassword = \"pw-file\"\n",
            0o600,
        );
        let c = resolve(None, Some("panel".into()), None, Some(&path)).unwrap();
        assert_eq!(c.url, "http://unit:8080");
        assert_eq!(c.user, "panel");
        assert_eq!(c.password.as_deref(), Some("pw-file"));
    }

    #[test]
    fn defaults_without_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let c = resolve(None, None, None, Some(&dir.path().join("none.toml"))).unwrap();
        assert_eq!(c.url, DEFAULT_URL);
        assert_eq!(c.user, DEFAULT_USER);
        assert_eq!(c.password, None);
    }

    #[test]
    fn a_file_others_can_read_is_refused_only_when_needed() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "password = \"x\"\n", 0o644);
        let err = resolve(None, None, None, Some(&path)).unwrap_err();
        assert!(
            matches!(&err, Failure::Usage(m) if m.contains("0644") && m.contains("chmod 600")),
            "{err:?}"
        );
        // Everything given: the file is not read at all.
        let c = resolve(
            Some("http://u".into()),
            Some("a".into()),
            Some("b".into()),
            Some(&path),
        )
        .unwrap();
        assert_eq!(c.password.as_deref(), Some("b"));
    }

    #[test]
    fn unknown_keys_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "passwd = \"x\"\n", 0o600);
        assert!(matches!(
            resolve(None, None, None, Some(&path)),
            Err(Failure::Usage(_))
        ));
    }
}
