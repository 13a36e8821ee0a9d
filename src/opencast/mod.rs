//! Opencast capture-agent mode: castd as one of the capture agents an Opencast server runs
//! (registered by name, fed its schedule by Opencast, reporting its state and each
//! recording's, ingesting what it records).
//!
//! This folder owns the protocol; the capture path never waits on it. What is here today
//! are the parts of the conversation that are pure text: reading Opencast's calendar and
//! the agent properties inside it ([`calendar`]), the service registry's answers
//! ([`registry`]), the agent's name, states and configuration ([`agent`]), which roles the
//! configured user holds ([`identity`]) and HTTP Digest answers ([`digest`]). None of them
//! does I/O, so each is tested on the exact texts Opencast sends, including the shapes the
//! field has tripped on.

pub mod agent;
pub mod calendar;
pub mod digest;
pub mod identity;
pub mod registry;
