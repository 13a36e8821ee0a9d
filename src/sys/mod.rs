//! The operating system around the daemon: systemd notification and watchdog, logging,
//! the data-directory lock, and facts about the machine (disk, network, clock, identity).
//! Nothing here knows about HTTP or capture.

pub mod disk;
pub mod lock;
pub mod logging;
pub mod network;
pub mod notify;
pub mod tasks;
pub mod unit;
