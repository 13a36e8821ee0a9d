//! Maintenance of the unit: rebooting it, restarting castd, and rebuilding the media side
//! (armed pipeline, previews, device registry) without a restart.
//!
//! Reboot and restart are carried out only after their HTTP answer has gone out, and only
//! after every recording is finalised (files completed, package `complete` or `partial`),
//! so a panel always learns that its request was taken and no lecture is lost. The
//! commands come from the configuration file alone and run without a shell.
//!
//! The schedule and the recordings stop through the daemon's one stop sequence
//! ([`super::stop`]). A restart without a command is a request to exit, which the server
//! above the daemon waits for. Takes the parts it needs, never the daemon.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::stop::{FINALISE_TIMEOUT, Scope, StopOrder, active_sessions, stop_session, wait_until};
use crate::config::MaintenanceConfig;
use crate::devices::Devices;
use crate::engine::{CaptureError, Engine};
use crate::events::{Bus, Event};
use crate::model::{AlarmCode, AlarmLevel, Device};

/// The longest a maintenance command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// After the answer's last byte was handed to the connection: time for it to reach the
/// client before the unit goes away.
const ANSWER_GRACE: Duration = Duration::from_millis(200);

/// What a maintenance request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Reboot,
    Restart,
    RestartMedia,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Reboot => "reboot",
            Action::Restart => "restart",
            Action::RestartMedia => "restartMedia",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    #[error("a capture is running ({}); send force=true to stop and finalise it first", sessions.join(", "))]
    Capturing { sessions: Vec<String> },
    #[error("another maintenance action is under way")]
    InProgress,
    #[error("{0} is disabled in the configuration (its command is empty)")]
    Disabled(&'static str),
    #[error(transparent)]
    Capture(#[from] CaptureError),
}

/// Cheap, cloneable handle to the maintenance part.
#[derive(Clone)]
pub struct Maintenance {
    inner: Arc<Inner>,
}

struct Inner {
    config: MaintenanceConfig,
    bus: Bus,
    engine: Engine,
    devices: Devices,
    stop_order: StopOrder,
    /// One maintenance action at a time.
    busy: AtomicBool,
    /// castd should exit (and be started again by its service manager).
    exit: CancellationToken,
}

/// An accepted action; while it exists no other action starts.
pub struct Ticket {
    maintenance: Maintenance,
    pub action: Action,
    /// Sessions that are stopped before the action.
    pub sessions: Vec<String>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.maintenance.inner.busy.store(false, Ordering::SeqCst);
    }
}

/// What `restartMedia` did.
#[derive(Debug)]
pub struct MediaRestarted {
    pub stopped_sessions: Vec<String>,
    pub devices: Vec<Device>,
}

impl Maintenance {
    pub(crate) fn new(
        config: MaintenanceConfig,
        bus: Bus,
        engine: Engine,
        devices: Devices,
        stop_order: StopOrder,
    ) -> Maintenance {
        Maintenance {
            inner: Arc::new(Inner {
                config,
                bus,
                engine,
                devices,
                stop_order,
                busy: AtomicBool::new(false),
                exit: CancellationToken::new(),
            }),
        }
    }

    /// Takes on `action` if nothing else is under way and no capture would be cut short
    /// (unless `force`).
    pub fn accept(&self, action: Action, force: bool) -> Result<Ticket, MaintenanceError> {
        if action == Action::Reboot && self.inner.config.reboot_command.is_empty() {
            return Err(MaintenanceError::Disabled("reboot"));
        }
        if self.inner.busy.swap(true, Ordering::SeqCst) {
            return Err(MaintenanceError::InProgress);
        }
        let ticket = Ticket {
            maintenance: self.clone(),
            action,
            sessions: active_sessions(&self.inner.engine),
        };
        if !ticket.sessions.is_empty() && !force {
            return Err(MaintenanceError::Capturing {
                sessions: ticket.sessions.clone(),
            });
        }
        Ok(ticket)
    }

    /// Carries out an accepted reboot or restart once `answered` resolves (the answer was
    /// handed to the connection).
    pub async fn carry_out(&self, ticket: Ticket, answered: impl Future<Output = ()>) {
        answered.await;
        tokio::time::sleep(ANSWER_GRACE).await;
        let action = ticket.action;
        let command = match action {
            Action::Reboot => &self.inner.config.reboot_command,
            Action::Restart => &self.inner.config.restart_command,
            Action::RestartMedia => unreachable!("restartMedia is carried out while answering"),
        };
        log::warn!("maintenance: {} requested", action.as_str());
        // Nothing new starts, and a scheduled recording cut short here is resumed inside
        // its window after the restart.
        self.inner.stop_order.stop(Scope::Recordings).await;
        if command.is_empty() {
            log::warn!("maintenance: castd exits to be restarted by its service manager");
            self.request_exit();
            return;
        }
        match run_command(command).await {
            Ok(()) => log::warn!("maintenance: {} command ran", action.as_str()),
            Err(e) => {
                let message = format!("the {} command failed: {e}", action.as_str());
                log::error!("maintenance: {message}; castd restarts to resume its schedule");
                self.inner.bus.publish(Event::Alarm {
                    code: AlarmCode::MaintenanceCommandFailed,
                    level: AlarmLevel::Error,
                    message,
                });
                // The schedule is stopped: only a fresh start brings it back.
                self.request_exit();
            }
        }
        drop(ticket);
    }

    /// Rebuilds the media side without restarting castd: stops the sessions the ticket
    /// names (files finalised), drops the armed pipeline and the device previews, rescans
    /// every device plugin after probing network cameras again. The armed pipeline is rebuilt
    /// from the devices found within a few seconds; previews when next asked for.
    pub async fn restart_media(&self, ticket: Ticket) -> Result<MediaRestarted, MaintenanceError> {
        let engine = &self.inner.engine;
        log::warn!("maintenance: rebuilding the media side");
        for session in &ticket.sessions {
            stop_session(engine, session).await;
        }
        wait_until(FINALISE_TIMEOUT, || active_sessions(engine).is_empty()).await;
        match engine.reset_media().await {
            Ok(()) => {}
            Err(CaptureError::AlreadyRunning) => {
                // A capture started in between.
                return Err(MaintenanceError::Capturing {
                    sessions: active_sessions(engine),
                });
            }
            Err(e) => return Err(e.into()),
        }
        self.inner.devices.probe_network().await;
        let devices = self.inner.devices.rescan().await;
        Ok(MediaRestarted {
            stopped_sessions: ticket.sessions.clone(),
            devices,
        })
    }

    fn request_exit(&self) {
        self.inner.exit.cancel();
    }

    /// Resolves when castd should exit for a restart.
    pub fn exit_requested(&self) -> impl Future<Output = ()> + Send + 'static {
        self.inner.exit.clone().cancelled_owned()
    }
}

/// Runs a configured command without a shell; its output goes to the log.
async fn run_command(argv: &[String]) -> Result<(), String> {
    let (program, args) = argv.split_first().ok_or("no command")?;
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let output = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            format!(
                "{program} did not finish within {} s",
                COMMAND_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("{program}: {e}"))?;
    let said = String::from_utf8_lossy(&output.stderr);
    let said = said.trim();
    if output.status.success() {
        if !said.is_empty() {
            log::info!("maintenance: {program}: {said}");
        }
        Ok(())
    } else {
        Err(format!("{program} {}: {said}", output.status))
    }
}
