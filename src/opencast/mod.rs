//! Opencast capture-agent mode: castd as one of the capture agents an Opencast server runs
//! (registered by name, fed its schedule by Opencast, reporting its state and each
//! recording's, ingesting what it records).
//!
//! This folder owns the protocol; the capture path never waits on it. The parts of the
//! conversation that are pure text do no I/O and are tested on the exact texts Opencast
//! sends, including the shapes the field has tripped on: Opencast's calendar and the agent
//! properties inside it ([`calendar`]), the service registry's answers ([`registry`]), the
//! agent's name, states and configuration ([`agent`]), which roles the configured user
//! holds ([`identity`]) and HTTP Digest answers ([`digest`]). [`client`] sends the agent's
//! requests (sign-in, registry, agent and recording states, configuration, calendar);
//! [`config`] is what an Administrator sets, [`link`] keeps it and tests the connection; [`sync`] decides how a new calendar changes
//! the schedule.

pub mod agent;
pub mod calendar;
pub mod client;
pub mod config;
pub mod digest;
pub mod identity;
pub mod link;
pub mod registry;
pub mod runner;
pub mod sync;
