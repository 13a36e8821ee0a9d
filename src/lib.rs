//! castd: the daemon of a lecture-capture appliance.
//!
//! The library holds every part of the daemon; the `castd` binary only parses the command
//! line, starts a [`daemon::Daemon`] and calls [`serve::run`]. The README's "Layout"
//! section says what each module owns and which way imports run. Tests and benchmarks
//! drive the library or the binary the same way a deployment does: a real SQLite store,
//! real HTTP on a real socket.

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
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod graph;
pub mod graph_builder;
pub mod http_client;
pub mod media;
pub mod model;
pub mod opencast;
pub mod packages;
pub mod plugins;
pub mod publish;
pub mod scheduler;
pub mod secrets;
pub mod serve;
pub mod settings;
pub mod speakers;
pub mod store;
pub mod sys;
pub mod templates;
