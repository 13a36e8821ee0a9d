//! The one stop sequence: in which order castd's parts stop, for a shutdown and for a
//! reboot or restart asked for over the API.
//!
//! The order is what keeps lectures: the schedule stops first (nothing new starts, and a
//! scheduled recording cut short stays `recording`, so it resumes inside its window at the
//! next start), uploads stop where they are (their checkpoints let them resume), then
//! recordings are completed, then the audit trail is written out, and last every
//! background task is told to stop and waited for. A maintenance action runs the first
//! steps only, with more patience for the recordings, before its command.

use std::time::{Duration, Instant};

use crate::audit::Audit;
use crate::engine::{CaptureError, Engine};
use crate::opencast::runner::Agent;
use crate::publish::Publishing;
use crate::scheduler::Scheduler;
use crate::sys::tasks::Tasks;

/// The longest a reboot or restart waits for recordings to be finalised; whatever is still
/// unfinished then is recovered (as `partial`) at the next start.
pub(crate) const FINALISE_TIMEOUT: Duration = Duration::from_secs(120);

/// How long the background tasks, told to stop, may take to end at exit. They end at
/// their next wait, so this is only reached by a task stuck in a slow disk.
const TASKS_GRACE: Duration = Duration::from_secs(1);

/// How far a stop goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Before a reboot or restart command: the schedule stops and every recording is
    /// finalised, however long that takes (up to [`FINALISE_TIMEOUT`]); castd keeps
    /// running (and serving) meanwhile.
    Recordings,
    /// castd exits: everything stops, recordings within the engine's own bound so the
    /// process is gone within systemd's stop timeout.
    Exit,
}

/// The parts a stop touches, in the order it touches them.
#[derive(Clone)]
pub(crate) struct StopOrder {
    pub scheduler: Scheduler,
    pub publishing: Publishing,
    pub engine: Engine,
    pub audit: Audit,
    /// The Opencast capture agent, told to report `offline` at exit.
    pub opencast: Agent,
    /// The daemon's one owner of background tasks.
    pub tasks: Tasks,
}

impl StopOrder {
    /// Runs the stop sequence as far as `scope` goes.
    pub(crate) async fn stop(&self, scope: Scope) {
        // The schedule stops first: a recording cut short by the stop stays `recording`
        // and is resumed when castd starts again inside its window.
        self.scheduler.shutdown();
        match scope {
            Scope::Recordings => finalise_recordings(&self.engine).await,
            Scope::Exit => {
                // Uploads stop where they are; their checkpoints let them resume at the
                // next start.
                self.publishing.shutdown();
                // Recordings are completed before the process goes.
                self.engine.shutdown().await;
                // The audit entries of the last requests are written before the process
                // goes (and before its writer is stopped with the other tasks).
                self.audit.flush().await;
                // Opencast hears of a clean stop, or shows the agent alive for hours.
                self.opencast.go_offline().await;
                self.tasks.stop();
                if !self.tasks.wait(TASKS_GRACE).await {
                    log::warn!(
                        "background tasks still running {} s after the stop; leaving them",
                        TASKS_GRACE.as_secs()
                    );
                }
            }
        }
    }
}

/// Sessions that a stop would cut short.
pub(crate) fn active_sessions(engine: &Engine) -> Vec<String> {
    engine
        .statuses()
        .into_iter()
        .filter(|s| s.state.is_active())
        .filter_map(|s| s.session_id)
        .collect()
}

/// Stops a session; one still starting is given a moment to get there.
pub(crate) async fn stop_session(engine: &Engine, session: &str) {
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

/// Waits, at most `timeout`, until `done` holds; whether it does.
pub(crate) async fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}
