//! Protocol peers: the services castd publishes to or works for, on loopback, checking every
//! request.

pub mod flowcapture;
pub mod kit;
pub mod opencast;
pub mod opencast_agent;
