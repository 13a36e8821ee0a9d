//! Integration tests: the real `castd` binary on loopback, spoken to over HTTP.

mod auth;
mod capture;
mod common;
mod devices;
mod http_core;
mod lifecycle;
mod permissions;
mod settings;
mod status;
mod users;
