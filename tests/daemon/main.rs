//! Integration tests: the real `castd` binary on loopback, spoken to over HTTP.

mod auth;
mod capture;
mod common;
mod devices;
mod http_core;
mod lifecycle;
mod packages;
mod permissions;
mod scheduler;
mod settings;
mod status;
mod users;

/// Milliseconds since the epoch, as the daemon counts them.
pub fn store_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
