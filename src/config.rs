//! Start-up configuration: what must be known before the database opens.
//!
//! Sources, strongest first: command-line flags, environment (`CASTD_*`), the TOML file
//! named by `--config`, built-in defaults. Everything else is a setting in the database and
//! editable over the API; this module must never grow options that belong there.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Parser, ValueEnum};
use serde::Deserialize;

/// Which device-capture plugins the daemon enables at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceMode {
    /// Only the simulated `test` devices (demos and the test suite).
    Test,
    /// Real V4L2/ALSA/network devices, plus `test` devices when no hardware is found.
    Auto,
}

/// Command line of the `castd` binary. Flags fall back to `CASTD_*` environment variables.
#[derive(Debug, Parser)]
#[command(name = "castd", version, about = "Lecture capture appliance daemon")]
pub struct Cli {
    /// Address to serve the HTTP API on; port 0 picks a free port.
    #[arg(long, env = "CASTD_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for the database, lock file and (by default) media.
    #[arg(long, env = "CASTD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long, env = "CASTD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Device plugins to enable.
    #[arg(long, env = "CASTD_DEVICES", value_enum)]
    pub devices: Option<DeviceMode>,
}

/// The TOML file; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    media_dir: Option<PathBuf>,
    devices: Option<DeviceMode>,
    #[serde(default)]
    auth: AuthConfig,
    #[serde(default)]
    http: HttpConfig,
    #[serde(default)]
    capture: CaptureConfig,
    #[serde(default)]
    maintenance: MaintenanceConfig,
}

/// Capture behaviour that must be known before the engine starts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureConfig {
    /// Keep the default template's pipeline running while idle, so a start only opens a
    /// gate (fast, exact). Costs some CPU all the time.
    pub keep_inputs_hot: bool,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            keep_inputs_hot: true,
        }
    }
}

/// The commands the maintenance routes run, as argument vectors (never a shell line; nothing
/// from a request is ever added to them).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaintenanceConfig {
    /// Reboots the unit, after recordings are finalised. Empty: reboot is refused.
    pub reboot_command: Vec<String>,
    /// Restarts castd, after recordings are finalised. Empty (the default): castd exits
    /// cleanly and its service manager starts it again (`Restart=always` in castd.service).
    pub restart_command: Vec<String>,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            reboot_command: vec!["systemctl".into(), "reboot".into()],
            restart_command: Vec::new(),
        }
    }
}

/// Tunables of login throttling. Defaults suit a room panel plus a few technicians.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Failed logins from one address inside `failure_window_secs` before it is throttled.
    pub max_failures_per_address: u32,
    /// Failed logins for one user (from any address) before the user is throttled.
    pub max_failures_per_user: u32,
    /// Window in which failures are counted.
    pub failure_window_secs: u64,
    /// First lock-out; doubles with every further failure up to `max_lockout_secs`.
    pub base_lockout_secs: u64,
    pub max_lockout_secs: u64,
    /// How long a verified credential is answered from memory without hashing again.
    pub credential_cache_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            max_failures_per_address: 10,
            max_failures_per_user: 20,
            failure_window_secs: 600,
            base_lockout_secs: 30,
            max_lockout_secs: 900,
            credential_cache_secs: 120,
        }
    }
}

/// HTTP limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest accepted request body for form and JSON requests, in bytes.
    pub max_body_bytes: usize,
    /// Requests that take longer are answered 408 (streams are exempt).
    pub request_timeout_secs: u64,
    /// A request's head (request line and headers) must be complete this long after a new
    /// connection opens, or after the first byte of a later head on a kept-alive one.
    /// Clients send a head in milliseconds; 10 s allows for a bad wireless link and closes
    /// a slow-header attacker's connections quickly.
    pub header_read_timeout_secs: u64,
    /// A connection on which nothing is read or written for this long, while no handler
    /// is working on its request, is closed: a kept-alive connection nobody uses, or a
    /// client that stopped reading its answer. Event streams send a heartbeat every 15 s.
    pub idle_timeout_secs: u64,
    /// Connections open at once, in all. Each is a file descriptor and up to 64 KiB of
    /// buffered request head; at the cap a new connection takes the place of the one that
    /// has waited longest for a request, and is refused (503) only if all are busy.
    pub max_connections: usize,
    /// Connections open at once from one address (IPv6: one /64); more are refused (503).
    /// Behind a reverse proxy every client has the proxy's address: raise it to
    /// `max_connections` there.
    pub max_connections_per_address: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            request_timeout_secs: 60,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 512,
            max_connections_per_address: 256,
        }
    }
}

impl HttpConfig {
    /// Zero would close every connection at once or refuse every client.
    fn check(&self) -> Result<(), String> {
        for (key, value) in [
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("max_connections", self.max_connections as u64),
            (
                "max_connections_per_address",
                self.max_connections_per_address as u64,
            ),
        ] {
            if value == 0 {
                return Err(format!("http.{key} must be at least 1"));
            }
        }
        Ok(())
    }
}

/// Resolved configuration the daemon runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub media_dir: PathBuf,
    pub devices: DeviceMode,
    /// Password for the `admin` user created on first start (`CASTD_ADMIN_PASSWORD`).
    pub initial_admin_password: Option<String>,
    pub auth: AuthConfig,
    pub http: HttpConfig,
    pub capture: CaptureConfig,
    pub maintenance: MaintenanceConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "castd-data";

impl Config {
    /// Resolves the command line, environment and optional TOML file into a configuration.
    #[expect(clippy::expect_used, reason = "invariant: default listen address")]
    pub fn resolve(cli: Cli) -> Result<Config, ConfigError> {
        let file = match &cli.config {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = cli
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let media_dir = file.media_dir.unwrap_or_else(|| data_dir.join("media"));
        let initial_admin_password = std::env::var("CASTD_ADMIN_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty());
        Ok(Config {
            listen: cli
                .listen
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("default listen address")),
            data_dir,
            media_dir,
            devices: cli.devices.or(file.devices).unwrap_or(DeviceMode::Auto),
            initial_admin_password,
            auth: file.auth,
            http: file.http,
            capture: file.capture,
            maintenance: file.maintenance,
        })
    }

    /// A configuration for tests and benchmarks: everything under `data_dir`, test devices.
    #[expect(clippy::expect_used, reason = "invariant: loopback address")]
    pub fn for_data_dir(data_dir: &Path) -> Config {
        Config {
            listen: "127.0.0.1:0".parse().expect("loopback address"),
            data_dir: data_dir.to_path_buf(),
            media_dir: data_dir.join("media"),
            devices: DeviceMode::Test,
            initial_admin_password: None,
            auth: AuthConfig::default(),
            http: HttpConfig::default(),
            capture: CaptureConfig::default(),
            maintenance: MaintenanceConfig::default(),
        }
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("castd.db")
    }

    pub fn initial_password_path(&self) -> PathBuf {
        self.data_dir.join("initial-admin-password")
    }
}

fn load_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    file.http.check().map_err(|message| ConfigError::Parse {
        path: path.to_path_buf(),
        message,
    })?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::parse_from(std::iter::once("castd").chain(args.iter().copied()))
    }

    #[test]
    fn flags_win_over_file_and_defaults_fill_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("castd.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\ndata_dir = \"/srv/castd\"\n[auth]\nmax_failures_per_address = 3\n",
        )
        .unwrap();
        let config = Config::resolve(cli(&[
            "--config",
            file.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ]))
        .unwrap();
        assert_eq!(config.listen.port(), 0);
        assert_eq!(config.data_dir, PathBuf::from("/srv/castd"));
        assert_eq!(config.media_dir, PathBuf::from("/srv/castd/media"));
        assert_eq!(config.auth.max_failures_per_address, 3);
        assert_eq!(config.auth.max_failures_per_user, 20);
        assert_eq!(config.devices, DeviceMode::Auto);
    }

    #[test]
    fn unknown_keys_in_the_file_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("castd.toml");
        std::fs::write(&file, "listne = \"127.0.0.1:9000\"\n").unwrap();
        let err = Config::resolve(cli(&["--config", file.to_str().unwrap()])).unwrap_err();
        assert!(err.to_string().contains("listne"), "{err}");
    }

    #[test]
    fn http_connection_limits_have_defaults_and_refuse_zero() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("castd.toml");
        std::fs::write(&file, "[http]\nmax_connections = 100\n").unwrap();
        let config = Config::resolve(cli(&["--config", file.to_str().unwrap()])).unwrap();
        assert_eq!(config.http.max_connections, 100);
        assert_eq!(config.http.max_connections_per_address, 256);
        assert_eq!(config.http.header_read_timeout_secs, 10);
        assert_eq!(config.http.idle_timeout_secs, 60);

        std::fs::write(&file, "[http]\nheader_read_timeout_secs = 0\n").unwrap();
        let err = Config::resolve(cli(&["--config", file.to_str().unwrap()])).unwrap_err();
        assert!(
            err.to_string().contains("http.header_read_timeout_secs"),
            "{err}"
        );
    }
}
