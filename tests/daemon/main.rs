//! Integration tests: the real `castd` binary on loopback, spoken to over HTTP.
#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks stop at once on a broken assumption; their helpers are theirs alone"
)]

mod auth;
mod backup;
mod capture;
mod common;
mod defects;
mod devices;
mod events;
mod faults;
mod fidelity;
#[cfg(feature = "fuzzing")]
mod fuzz_corpus;
mod graph_builder;
mod hostile;
mod hostile_auth;
mod hostile_http;
mod hostile_secrets;
mod hostile_storage;
mod http_core;
mod lifecycle;
mod maintenance;
mod metrics;
mod network_camera;
mod opencast_agent;
mod opencast_agent_mode;
mod opencast_link;
mod packages;
mod peers;
mod permissions;
mod publish_flowcapture;
mod publish_opencast;
mod publishing;
mod scheduler;
mod secrets;
mod settings;
mod slow_stop;
mod speakers;
mod status;
mod streaming;
mod users;
mod web_page;

/// Milliseconds since the epoch, as the daemon counts them.
pub fn store_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
