//! Wiring: opens the parts of the daemon in order, serves the API, and shuts down cleanly.
//!
//! [`Daemon`] is the cheap, cloneable handle every part receives; [`run`] serves HTTP on a
//! listener the caller bound (so tests and tools can use port 0) until `shutdown` resolves.

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::audit::Audit;
use crate::auth::users::InitialAdmin;
use crate::auth::{Authenticator, Users, UsersError};
use crate::config::Config;
use crate::devices::Devices;
use crate::engine::Engine;
use crate::events::Bus;
use crate::graph_builder::GraphBook;
use crate::maintenance::Maintenance;
use crate::metrics::Metrics;
use crate::model::CaptureState;
use crate::packages::Packages;
use crate::plugins::Plugins;
use crate::publish::Publishing;
use crate::scheduler::Scheduler;
use crate::settings::{Settings, SettingsError, SystemDefaults};
use crate::speakers::Speakers;
use crate::store::{Store, StoreError};
use crate::sys::lock::{DataDirLock, LockError};
use crate::sys::network::DnsProbe;
use crate::templates::{TemplateError, Templates};
use crate::{api, sys};

/// Connections still open this long after a shutdown request are dropped, so the daemon
/// always exits within systemd's stop timeout (and the 5 s the CLI contract promises).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

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

/// The parts of a running daemon.
pub struct Parts {
    pub config: Config,
    pub store: Store,
    pub settings: Settings,
    pub auth: Authenticator,
    pub users: Users,
    pub bus: Bus,
    pub devices: Devices,
    pub plugins: Plugins,
    pub templates: Templates,
    pub packages: Packages,
    pub engine: Engine,
    pub scheduler: Scheduler,
    pub publishing: Publishing,
    pub metrics: Metrics,
    pub maintenance: Maintenance,
    pub graphs: GraphBook,
    pub speakers: Speakers,
    pub audit: Audit,
    pub started: Instant,
    /// Read once: the serial number does not change while running.
    pub serial: String,
    pub dns: DnsProbe,
    _lock: DataDirLock,
}

/// Cheap, cloneable handle to the running daemon.
#[derive(Clone)]
pub struct Daemon(Arc<Parts>);

impl Deref for Daemon {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl Daemon {
    /// Takes the data-directory lock, opens the store, loads settings and makes sure an
    /// administrator exists. Does not serve yet.
    pub async fn start(config: Config) -> Result<Daemon, StartError> {
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

        let bus = Bus::default();
        let device_settings = crate::plugins::load_device_settings(&store).await?;
        let devices = Devices::start(config.devices, bus.clone(), device_settings).await;
        let plugins = Plugins::new(store.clone(), devices.clone());
        let env = crate::media::init().map_err(StartError::Media)?;
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
        crate::metrics::publish_live_figures(engine.clone(), bus.clone());
        let maintenance = Maintenance::new(config.maintenance.clone(), bus.clone());
        let scheduler =
            Scheduler::start(store.clone(), settings.clone(), engine.clone(), bus.clone())
                .map_err(StartError::Scheduler)?;
        let capture_engine = engine.clone();
        let publishing = Publishing::start(
            store.clone(),
            packages.clone(),
            templates.clone(),
            settings.clone(),
            bus.clone(),
            Arc::new(move || {
                capture_engine.statuses().iter().any(|s| {
                    matches!(
                        s.state,
                        CaptureState::Starting | CaptureState::Capturing | CaptureState::Paused
                    )
                })
            }),
        )
        .await?;

        let graphs = GraphBook::new(store.clone());
        let speakers = Speakers::new(store.clone());
        let audit = Audit::start(store.clone());

        Ok(Daemon(Arc::new(Parts {
            config,
            store,
            settings,
            auth,
            users,
            bus,
            devices,
            plugins,
            templates,
            packages,
            engine,
            scheduler,
            publishing,
            metrics: Metrics::default(),
            maintenance,
            graphs,
            speakers,
            audit,
            started: Instant::now(),
            serial: sys::unit::serial(),
            dns: DnsProbe::default(),
            _lock: lock,
        })))
    }
}

fn create_private_dir(path: &std::path::Path) -> Result<(), StartError> {
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

/// Serves the API on `listener` (with the connection limits of `[http]`, see
/// [`crate::serve`]) until `shutdown` resolves, then stops within a few seconds.
pub async fn run(
    daemon: Daemon,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let maintenance = daemon.maintenance.clone();
    tokio::spawn(async move {
        // A restart asked for over the API stops the daemon like a signal does.
        tokio::select! {
            () = shutdown => {}
            () = maintenance.exit_requested() => {}
        }
        maintenance.set_stopping();
        let _ = stop_tx.send(true);
    });

    let app = api::router(daemon.clone());
    let mut graceful = stop_rx.clone();
    let serve = crate::serve::serve(
        listener,
        app,
        crate::serve::ServeConfig::from(&daemon.config.http),
        async move {
            let _ = graceful.wait_for(|stop| *stop).await;
            log::info!("shutting down");
            sys::notify::notify("STOPPING=1");
        },
    );
    let watchdog = tokio::spawn(pet_watchdog(daemon.clone()));

    let mut deadline = stop_rx.clone();
    tokio::select! {
        () = serve => {}
        () = async move {
            let _ = deadline.wait_for(|stop| *stop).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            log::warn!("connections still open {} s after shutdown; closing them", SHUTDOWN_GRACE.as_secs());
        }
    }
    watchdog.abort();
    // The schedule stops first: a recording cut short by the shutdown stays `recording`
    // and is resumed when castd starts again inside its window.
    daemon.scheduler.shutdown();
    // Uploads stop where they are; their checkpoints let them resume at the next start.
    daemon.publishing.shutdown();
    // Recordings are completed before the process goes.
    daemon.engine.shutdown().await;
    // The audit entries of the last requests are written before the process goes.
    daemon.audit.flush().await;
    Ok(())
}

/// Tells systemd the daemon is alive, as long as the database still answers.
async fn pet_watchdog(daemon: Daemon) {
    let Some(interval) = sys::notify::watchdog_interval() else {
        return;
    };
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        match tokio::time::timeout(interval, daemon.store.ping()).await {
            Ok(Ok(())) => {
                sys::notify::notify("WATCHDOG=1");
            }
            Ok(Err(e)) => log::error!("watchdog: database check failed: {e}"),
            Err(_) => log::error!("watchdog: database check timed out"),
        }
    }
}
