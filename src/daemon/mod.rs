//! The running daemon: its parts, wired in order, and the operations that span them.
//!
//! [`Daemon`] is a closed façade. Its parts (store, settings, engine, scheduler,
//! publishing, …) are private; whoever holds a `Daemon` (the HTTP handlers) either calls
//! one method per operation that needs several parts, written in a module of this folder
//! by theme ([`capture`], [`packages`], [`templates`], [`backup`], [`plugins`],
//! [`schedule`], [`status`], [`metrics`], [`maintenance`], [`stop`]), or reaches one part
//! through a narrow accessor (`daemon.users()`) for what that part alone decides. So every
//! rule that crosses two parts has one home here, and none lives in a handler.
//!
//! Imports run downward only: this folder imports the parts and never `api` or `serve`
//! (serving sits above it); the modules below it take the parts they need, never a
//! `Daemon`.

mod backup;
mod capture;
mod error;
mod lifecycle;
pub mod maintenance;
pub mod metrics;
mod opencast;
mod packages;
mod plugins;
mod reports;
mod schedule;
mod start;
pub mod status;
mod stop;
mod templates;

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::RwLock;

use crate::audit::Audit;
use crate::auth::{Authenticator, Users};
use crate::config::{Config, HttpConfig};
use crate::devices::Devices;
use crate::engine::Engine;
use crate::events::Bus;
use crate::graph_builder::GraphBook;
use crate::opencast::link::Link;
use crate::opencast::runner::Agent;
use crate::packages::Packages;
use crate::plugins::Plugins;
use crate::publish::Publishing;
use crate::scheduler::Scheduler;
use crate::settings::Settings;
use crate::speakers::Speakers;
use crate::store::Store;
use crate::sys::lock::DataDirLock;
use crate::sys::network::DnsProbe;
use crate::sys::tasks::Tasks;
use crate::templates::Templates;

pub use backup::{Restoring, Upload};
pub use error::OperationError;
pub use maintenance::{Action, MaintenanceError, MediaRestarted};
pub use start::StartError;

/// Cheap, cloneable handle to the running daemon.
#[derive(Clone)]
pub struct Daemon(Arc<Parts>);

/// The parts of a running daemon; private to this folder.
struct Parts {
    config: Config,
    store: Store,
    settings: Settings,
    auth: Authenticator,
    users: Users,
    bus: Bus,
    devices: Devices,
    plugins: Plugins,
    templates: Templates,
    packages: Packages,
    engine: Engine,
    scheduler: Scheduler,
    publishing: Publishing,
    metrics: metrics::Metrics,
    maintenance: maintenance::Maintenance,
    graphs: GraphBook,
    opencast: Link,
    /// The Opencast capture agent's task.
    agent: Agent,
    speakers: Speakers,
    audit: Audit,
    started: Instant,
    /// Read once: the serial number does not change while running.
    serial: String,
    dns: DnsProbe,
    /// Every background task of the daemon; stopped last, by [`stop`].
    tasks: Tasks,
    /// The order in which the parts stop.
    stop_order: stop::StopOrder,
    /// The tasks that serve clients (the watchdog, endless answers such as the event
    /// stream); stopped first, when a shutdown begins.
    serving: Tasks,
    /// Held for reading while a capture starts from the API, for writing while a template
    /// is deleted: a template cannot go between the "is it recording?" check and its
    /// deletion (see [`templates`]).
    template_use: RwLock<()>,
    _lock: DataDirLock,
}

/// Single-part accessors: for what one part decides alone. An operation that needs two
/// parts is a method of its own in one of this folder's modules.
impl Daemon {
    /// The configuration file's `[http]` section, for the server.
    pub fn http_config(&self) -> &HttpConfig {
        &self.0.config.http
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.0.config.data_dir
    }

    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    pub fn auth(&self) -> &Authenticator {
        &self.0.auth
    }

    pub fn users(&self) -> &Users {
        &self.0.users
    }

    pub fn bus(&self) -> &Bus {
        &self.0.bus
    }

    pub fn devices(&self) -> &Devices {
        &self.0.devices
    }

    pub fn plugins(&self) -> &Plugins {
        &self.0.plugins
    }

    pub fn templates(&self) -> &Templates {
        &self.0.templates
    }

    pub fn packages(&self) -> &Packages {
        &self.0.packages
    }

    pub fn engine(&self) -> &Engine {
        &self.0.engine
    }

    pub fn scheduler(&self) -> &Scheduler {
        &self.0.scheduler
    }

    /// The Opencast link: its configuration and connection test.
    pub fn opencast(&self) -> &Link {
        &self.0.opencast
    }

    pub fn publishing(&self) -> &Publishing {
        &self.0.publishing
    }

    pub fn graphs(&self) -> &GraphBook {
        &self.0.graphs
    }

    pub fn speakers(&self) -> &Speakers {
        &self.0.speakers
    }

    pub fn audit(&self) -> &Audit {
        &self.0.audit
    }

    /// The run-long HTTP counters.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.0.metrics
    }

    pub fn dns(&self) -> &DnsProbe {
        &self.0.dns
    }
}
