//! Logging: to journald when started by systemd, else to stderr.
//!
//! The level comes from `CASTD_LOG` (`error`, `warn`, `info`, `debug`, `trace`; default
//! `info`). Passwords, keys and other secrets are never passed to the logger.

use std::io::Write as _;

use log::{LevelFilter, Log, Metadata, Record};

struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "{now} {:5} {}: {}",
            record.level(),
            record.target(),
            record.args()
        );
    }

    fn flush(&self) {}
}

fn level_from_env() -> LevelFilter {
    std::env::var("CASTD_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(LevelFilter::Info)
}

/// Installs the logger; safe to call more than once (later calls do nothing).
pub fn init() {
    let level = level_from_env();
    let installed = if systemd_journal_logger::connected_to_journal() {
        systemd_journal_logger::JournalLog::new()
            .map(|j| j.with_syslog_identifier("castd".to_string()))
            .map_err(|e| e.to_string())
            .and_then(|j| j.install().map_err(|e| e.to_string()))
    } else {
        log::set_boxed_logger(Box::new(StderrLogger)).map_err(|e| e.to_string())
    };
    if installed.is_ok() {
        log::set_max_level(level);
    }
}
