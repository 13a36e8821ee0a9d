//! Opening the daemon: the data-directory lock, the store, settings and the first
//! administrator, then the parts in the order each needs the ones before it.
//!
//! Every part that runs background work gets its own group of the daemon's one
//! [`Tasks`] owner, so the stop sequence can end them in order. Nothing here serves.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::RwLock;

use super::maintenance::Maintenance;
use super::metrics::{self, Metrics};
use super::stop::StopOrder;
use super::{Daemon, Parts};
use crate::audit::Audit;
use crate::auth::users::InitialAdmin;
use crate::auth::{Authenticator, Users, UsersError};
use crate::config::Config;
use crate::devices::Devices;
use crate::engine::Engine;
use crate::events::Bus;
use crate::graph_builder::GraphBook;
use crate::opencast::link::Link;
use crate::packages::Packages;
use crate::plugins::Plugins;
use crate::publish::Publishing;
use crate::scheduler::Scheduler;
use crate::settings::{Settings, SettingsError, SystemDefaults};
use crate::speakers::Speakers;
use crate::store::{Store, StoreError};
use crate::sys;
use crate::sys::lock::{DataDirLock, LockError};
use crate::sys::network::DnsProbe;
use crate::sys::tasks::Tasks;
use crate::templates::{TemplateError, Templates};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("cannot create {path}: {source}")]
    Directory {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot swap in the restored database: {0}")]
    Restore(#[from] crate::backup::BackupError),
    #[error("cannot load settings: {0}")]
    Settings(#[from] SettingsError),
    #[error("cannot create the initial admin: {0}")]
    Users(#[from] UsersError),
    #[error("media: {0}")]
    Media(String),
    #[error("cannot install the default templates: {0}")]
    Templates(#[from] TemplateError),
    #[error("cannot start the scheduler: {0}")]
    Scheduler(std::io::Error),
}

/// What is open before any part runs: the lock, the store, settings and users.
struct Foundation {
    lock: DataDirLock,
    store: Store,
    settings: Settings,
    auth: Authenticator,
    users: Users,
}

/// The parts that capture, schedule and publish.
struct Capture {
    devices: Devices,
    plugins: Plugins,
    templates: Templates,
    packages: Packages,
    engine: Engine,
    scheduler: Scheduler,
    publishing: Publishing,
}

impl Daemon {
    /// Takes the data-directory lock, opens the store, loads settings, makes sure an
    /// administrator exists and starts the parts. Does not serve yet.
    pub async fn start(config: Config) -> Result<Daemon, StartError> {
        let tasks = Tasks::default();
        let foundation = open_foundation(&config).await?;
        let bus = Bus::default();
        let capture = start_capture_parts(&config, &foundation, &bus, &tasks).await?;
        let audit = Audit::start(foundation.store.clone(), &tasks.child());
        let opencast = Link::new(foundation.store.clone(), sys::unit::hostname());
        let agent = crate::opencast::runner::start(
            foundation.store.clone(),
            opencast.clone(),
            capture.scheduler.clone(),
            super::opencast::AgentHost {
                engine: capture.engine.clone(),
                settings: foundation.settings.clone(),
                templates: capture.templates.clone(),
                publishing: capture.publishing.clone(),
                media_dir: config.media_dir.clone(),
            },
            bus.clone(),
            &tasks.child(),
        );
        let stop_order = StopOrder {
            opencast: agent.clone(),
            scheduler: capture.scheduler.clone(),
            publishing: capture.publishing.clone(),
            engine: capture.engine.clone(),
            audit: audit.clone(),
            tasks: tasks.clone(),
        };
        let maintenance = Maintenance::new(
            config.maintenance.clone(),
            bus.clone(),
            capture.engine.clone(),
            capture.devices.clone(),
            stop_order.clone(),
        );
        let Foundation {
            lock,
            store,
            settings,
            auth,
            users,
        } = foundation;
        Ok(Daemon(Arc::new(Parts {
            graphs: GraphBook::new(store.clone()),
            opencast,
            agent,
            speakers: Speakers::new(store.clone()),
            serving: tasks.child(),
            config,
            store,
            settings,
            auth,
            users,
            bus,
            devices: capture.devices,
            plugins: capture.plugins,
            templates: capture.templates,
            packages: capture.packages,
            engine: capture.engine,
            scheduler: capture.scheduler,
            publishing: capture.publishing,
            metrics: Metrics::default(),
            maintenance,
            audit,
            started: Instant::now(),
            serial: sys::unit::serial(),
            dns: DnsProbe::default(),
            tasks,
            stop_order,
            template_use: RwLock::new(()),
            _lock: lock,
        })))
    }
}

async fn open_foundation(config: &Config) -> Result<Foundation, StartError> {
    create_private_dir(&config.data_dir)?;
    let lock = DataDirLock::acquire(&config.data_dir)?;
    std::fs::create_dir_all(&config.media_dir).map_err(|source| StartError::Directory {
        path: config.media_dir.clone(),
        source,
    })?;

    // A restore staged before the last restart replaces the database before it opens.
    if crate::backup::apply_staged(&config.database_path())? {
        log::warn!(
            "restored the database from a backup; the replaced one is kept as {}",
            crate::backup::replaced_path(&config.database_path()).display()
        );
    }
    let store = Store::open(&config.database_path())?;
    let settings = Settings::load(
        store.clone(),
        SystemDefaults {
            hostname: sys::unit::hostname(),
            timezone: sys::unit::system_timezone(),
        },
    )
    .await?;
    let auth = Authenticator::new(store.clone(), config.auth.clone());
    let users = Users::new(store.clone(), auth.clone());
    match users
        .ensure_initial_admin(
            config.initial_admin_password.as_deref(),
            &config.initial_password_path(),
        )
        .await?
    {
        InitialAdmin::Existing => {}
        InitialAdmin::FromConfig => {
            log::info!("created user admin with the password from CASTD_ADMIN_PASSWORD");
        }
        InitialAdmin::Random { path, password } => log::warn!(
            "created user admin with the random password {password} (also in {}, readable only by this user); change it after logging in",
            path.display()
        ),
    }
    Ok(Foundation {
        lock,
        store,
        settings,
        auth,
        users,
    })
}

async fn start_capture_parts(
    config: &Config,
    foundation: &Foundation,
    bus: &Bus,
    tasks: &Tasks,
) -> Result<Capture, StartError> {
    let Foundation {
        store, settings, ..
    } = foundation;
    let device_settings = crate::plugins::load_device_settings(store).await?;
    let devices =
        Devices::start(config.devices, bus.clone(), device_settings, &tasks.child()).await;
    let plugins = Plugins::new(store.clone(), devices.clone());
    let env = crate::media::init().map_err(|e| StartError::Media(e.to_string()))?;
    let templates = Templates::new(store.clone());
    let installed = templates.install_defaults().await?;
    if installed > 0 {
        log::info!("installed {installed} default templates");
    }
    let packages = Packages::new(store.clone(), config.media_dir.clone());
    let engine = Engine::start(crate::engine::Deps {
        settings: settings.clone(),
        devices: devices.clone(),
        templates: templates.clone(),
        packages: packages.clone(),
        bus: bus.clone(),
        media_dir: config.media_dir.clone(),
        keep_inputs_hot: config.capture.keep_inputs_hot,
        env,
    })
    .await;
    metrics::publish_live_figures(engine.clone(), bus.clone(), &tasks.child());
    let scheduler = Scheduler::start(
        store.clone(),
        settings.clone(),
        engine.clone(),
        bus.clone(),
        tasks.child(),
    )
    .map_err(StartError::Scheduler)?;
    let capture_engine = engine.clone();
    let publishing = Publishing::start(
        store.clone(),
        packages.clone(),
        templates.clone(),
        settings.clone(),
        bus.clone(),
        Arc::new(move || {
            capture_engine
                .statuses()
                .iter()
                .any(|s| s.state.is_recording())
        }),
        tasks.child(),
    )
    .await?;
    Ok(Capture {
        devices,
        plugins,
        templates,
        packages,
        engine,
        scheduler,
        publishing,
    })
}

fn create_private_dir(path: &Path) -> Result<(), StartError> {
    use std::os::unix::fs::DirBuilderExt as _;
    if path.is_dir() {
        return Ok(());
    }
    // The directory holds password hashes: owner only.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| StartError::Directory {
            path: path.to_path_buf(),
            source,
        })
}
