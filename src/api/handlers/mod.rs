//! Route handlers, one file per API group. A handler parses, calls one part of the daemon,
//! and maps the typed result to a response; it holds no logic of its own.

pub mod capture;
pub mod devices;
pub mod meta;
pub mod plugins;
pub mod settings;
pub mod status;
pub mod users;
