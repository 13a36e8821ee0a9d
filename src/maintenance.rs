//! Maintenance of the unit: rebooting it, restarting castd, and rebuilding the media side
//! (armed pipeline, previews, device registry) without a restart.
//!
//! Reboot and restart are carried out only after their HTTP answer has gone out, and only
//! after every recording is finalised (files completed, package `complete` or `partial`),
//! so a panel always learns that its request was taken and no lecture is lost. The
//! commands come from the configuration file alone and run without a shell.
//!
//! This module also carries the daemon's lifecycle signals: a request to exit (a restart
//! without a command) and the notice that the daemon is stopping (endless answers such as
//! the event stream end on it).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::config::MaintenanceConfig;
use crate::engine::{CaptureError, Engine};
use crate::events::{Bus, Event};
use crate::model::{AlarmCode, AlarmLevel, CaptureState, Device};

/// The longest a reboot or restart waits for recordings to be finalised; whatever is still
/// unfinished then is recovered (as `partial`) at the next start.
const FINALISE_TIMEOUT: Duration = Duration::from_secs(120);
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
    /// One maintenance action at a time.
    busy: AtomicBool,
    /// castd should exit (and be started again by its service manager).
    exit: watch::Sender<bool>,
    /// castd is shutting down.
    stopping: watch::Sender<bool>,
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
    pub fn new(config: MaintenanceConfig, bus: Bus) -> Maintenance {
        Maintenance {
            inner: Arc::new(Inner {
                config,
                bus,
                busy: AtomicBool::new(false),
                exit: watch::channel(false).0,
                stopping: watch::channel(false).0,
            }),
        }
    }

    /// Takes on `action` if nothing else is under way and no capture would be cut short
    /// (unless `force`).
    pub fn accept(
        &self,
        action: Action,
        force: bool,
        engine: &Engine,
    ) -> Result<Ticket, MaintenanceError> {
        if action == Action::Reboot && self.inner.config.reboot_command.is_empty() {
            return Err(MaintenanceError::Disabled("reboot"));
        }
        if self.inner.busy.swap(true, Ordering::SeqCst) {
            return Err(MaintenanceError::InProgress);
        }
        let ticket = Ticket {
            maintenance: self.clone(),
            action,
            sessions: active_sessions(engine),
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
    pub async fn carry_out(
        &self,
        ticket: Ticket,
        answered: impl Future<Output = ()>,
        daemon: crate::daemon::Daemon,
    ) {
        answered.await;
        tokio::time::sleep(ANSWER_GRACE).await;
        let action = ticket.action;
        let command = match action {
            Action::Reboot => &self.inner.config.reboot_command,
            Action::Restart => &self.inner.config.restart_command,
            Action::RestartMedia => unreachable!("restartMedia is carried out while answering"),
        };
        log::warn!("maintenance: {} requested", action.as_str());
        // The schedule stops first: nothing new starts, and a scheduled recording cut short
        // here is resumed inside its window after the restart.
        daemon.scheduler.shutdown();
        finalise_recordings(&daemon.engine).await;
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
    pub async fn restart_media(
        &self,
        ticket: Ticket,
        daemon: &crate::daemon::Daemon,
    ) -> Result<MediaRestarted, MaintenanceError> {
        log::warn!("maintenance: rebuilding the media side");
        for session in &ticket.sessions {
            stop_session(&daemon.engine, session).await;
        }
        wait_until(FINALISE_TIMEOUT, || no_active_session(&daemon.engine)).await;
        match daemon.engine.reset_media().await {
            Ok(()) => {}
            Err(CaptureError::AlreadyRunning) => {
                // A capture started in between.
                return Err(MaintenanceError::Capturing {
                    sessions: active_sessions(&daemon.engine),
                });
            }
            Err(e) => return Err(e.into()),
        }
        daemon.devices.probe_network().await;
        let devices = daemon.devices.rescan().await;
        Ok(MediaRestarted {
            stopped_sessions: ticket.sessions.clone(),
            devices,
        })
    }

    fn request_exit(&self) {
        self.inner.exit.send_replace(true);
    }

    /// Resolves when castd should exit for a restart.
    pub fn exit_requested(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut exit = self.inner.exit.subscribe();
        async move {
            let _ = exit.wait_for(|e| *e).await;
        }
    }

    /// Announces that castd is shutting down.
    pub fn set_stopping(&self) {
        self.inner.stopping.send_replace(true);
    }

    /// Resolves when castd is shutting down.
    pub fn stopping(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stopping = self.inner.stopping.subscribe();
        async move {
            let _ = stopping.wait_for(|s| *s).await;
        }
    }
}

/// Sessions a reboot or restart would cut short.
fn active_sessions(engine: &Engine) -> Vec<String> {
    engine
        .statuses()
        .into_iter()
        .filter(|s| {
            matches!(
                s.state,
                CaptureState::Starting
                    | CaptureState::Capturing
                    | CaptureState::Paused
                    | CaptureState::Stopping
            )
        })
        .filter_map(|s| s.session_id)
        .collect()
}

fn no_active_session(engine: &Engine) -> bool {
    active_sessions(engine).is_empty()
}

/// Stops a session; one still starting is given a moment to get there.
async fn stop_session(engine: &Engine, session: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match engine.stop(Some(session.to_string())).await {
            Ok(_) | Err(CaptureError::SessionNotFound(_) | CaptureError::Idle) => return,
            Err(e) if Instant::now() > deadline => {
                log::error!("maintenance: cannot stop capture {session}: {e}");
                return;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Stops every session and waits until their packages are finished.
async fn finalise_recordings(engine: &Engine) {
    let sessions = active_sessions(engine);
    for session in &sessions {
        log::warn!("maintenance: stopping capture {session}");
        stop_session(engine, session).await;
    }
    // Finished sessions leave the engine once their package is saved.
    let finished = wait_until(FINALISE_TIMEOUT, || engine.statuses().is_empty()).await;
    if !finished {
        log::error!(
            "maintenance: recordings not finalised within {} s; they are recovered at the next start",
            FINALISE_TIMEOUT.as_secs()
        );
    }
}

async fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
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
