//! castd: the daemon of a lecture-capture appliance.
//!
//! The library holds every part of the daemon; the `castd` binary only parses the command
//! line, starts a [`daemon::Daemon`] and calls [`serve::run`]. Tests and benchmarks drive
//! the library or the binary the same way a deployment does: a real SQLite store, real HTTP
//! on a real socket.
//!
//! # Layout
//!
//! Imports run one way, from the top down; nothing below imports anything above it:
//!
//! ```text
//! main.rs / serve → api → daemon → scheduler, publish, opencast → engine → devices
//!                 → media, graph → store, model, sys
//! ```
//!
//! - `serve`: the accept loop (connection caps, timeouts) and `run`, which serves a
//!   daemon's API and stops it on shutdown.
//! - `api`: HTTP only. One route table with permissions; a handler parses, authorises,
//!   calls one `Daemon` method and maps the answer.
//! - `daemon`: the closed façade. Its parts are private; one method per operation that
//!   spans parts; the one stop sequence; maintenance, metrics and status.
//! - `scheduler`, `publish`, `opencast`: the schedule and its timer loop; the persistent
//!   publish queue and its publishers; the Opencast capture-agent protocol.
//! - `engine`: the pure capture state machine (`engine::machine`) and the engine thread
//!   that applies its effects without ever waiting; armed pipelines, previews, recovery.
//! - `media`: GStreamer. It turns plans into pipelines and reports what happens to them
//!   as events. `graph` is pure: graph rules, option schemas, the pipeline plan and its
//!   compilation.
//! - `devices`, `store`, `model`, `sys`: hardware discovery, SQLite, wire types and
//!   codes, and the operating system (clock, notify, tasks).
//!
//! # Visibility
//!
//! Items are `pub(crate)` unless something outside the crate needs them. The modules
//! below are public only where the binaries, the integration tests, the benchmarks or the
//! fuzz targets use them; the rest are private. The `unreachable_pub` lint holds this.
//! The fuzz entry points exist only with the `fuzzing` feature.

mod api;
pub mod audit;
mod auth;
mod backup;
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
mod graph_builder;
pub mod http_client;
pub mod media;
pub mod model;
pub mod opencast;
mod packages;
mod plugins;
mod publish;
mod scheduler;
mod secrets;
pub mod serve;
mod settings;
mod speakers;
mod store;
pub mod sys;
pub mod templates;
