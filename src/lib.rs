//! castd: the daemon of a lecture-capture appliance.
//!
//! The library holds every part of the daemon; the `castd` binary only parses the command
//! line and calls [`daemon::run`]. Tests and benchmarks drive the library or the binary the
//! same way a deployment does: a real SQLite store, real HTTP on a real socket.

pub mod api;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod devices;
pub mod engine;
pub mod events;
#[doc(hidden)]
pub mod fuzzing;
pub mod graph;
pub mod graph_builder;
pub mod http_client;
pub mod maintenance;
pub mod media;
pub mod metrics;
pub mod model;
pub mod packages;
pub mod plugins;
pub mod publish;
pub mod scheduler;
pub mod secrets;
pub mod serve;
pub mod settings;
pub mod speakers;
pub mod status;
pub mod store;
pub mod sys;
pub mod templates;
