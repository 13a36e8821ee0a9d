//! Protocol peers: the services castd publishes to, on loopback, checking every request.

pub mod flowcapture;
pub mod kit;
pub mod opencast;
