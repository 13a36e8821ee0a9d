//! Route handlers, one file per API group. A handler parses, calls one part of the daemon,
//! and maps the typed result to a response; it holds no logic of its own.

pub mod backup;
pub mod capture;
pub mod devices;
pub mod events;
pub mod graph;
pub mod live;
pub mod maintenance;
pub mod meta;
pub mod metrics;
pub mod packages;
pub mod plugins;
pub mod publishing;
pub mod scheduler;
pub mod session;
pub mod settings;
pub mod speakers;
pub mod status;
pub mod templates;
pub mod users;
