//! The daemon's life from the outside: maintenance actions asked for over the API, the
//! signals a server needs (a shutdown was asked for, serving ends), and the stop.
//!
//! The order of the stop itself is [`super::stop`]'s; this module only exposes it.

use std::future::Future;

use super::Daemon;
use super::maintenance::{Action, MaintenanceError, MediaRestarted};
use super::stop::Scope;
use crate::store::StoreError;

impl Daemon {
    /// Accepts a reboot or restart and carries it out once `answered` resolves (its answer
    /// was handed to the connection): the schedule stops, recordings are finalised, then
    /// the configured command runs (or castd exits to be started again). The sessions
    /// stopped first (only with `force`).
    pub fn reboot_or_restart(
        &self,
        action: Action,
        force: bool,
        answered: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Vec<String>, MaintenanceError> {
        let ticket = self.0.maintenance.accept(action, force)?;
        let sessions = ticket.sessions.clone();
        let maintenance = self.0.maintenance.clone();
        self.0
            .tasks
            .spawn(async move { maintenance.carry_out(ticket, answered).await });
        Ok(sessions)
    }

    /// Rebuilds the media side without a restart (see `restartMedia`).
    pub async fn restart_media(&self, force: bool) -> Result<MediaRestarted, MaintenanceError> {
        let ticket = self.0.maintenance.accept(Action::RestartMedia, force)?;
        self.0.maintenance.restart_media(ticket).await
    }

    /// Resolves when castd should exit because a maintenance action asked for it.
    pub fn exit_requested(&self) -> impl Future<Output = ()> + Send + 'static {
        self.0.maintenance.exit_requested()
    }

    /// Starts a task that serves clients; it is stopped when serving ends.
    pub fn spawn_serving<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.0.serving.spawn(task);
    }

    /// Ends serving: endless answers (the event stream) end and serving tasks stop. The
    /// first step of a shutdown.
    pub fn stop_serving(&self) {
        self.0.serving.stop();
    }

    /// Resolves once serving ends.
    pub fn serving_stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        self.0.serving.stopped()
    }

    /// Whether the database still answers (for the service manager's watchdog).
    pub async fn database_answers(&self) -> Result<(), StoreError> {
        self.0.store.ping().await
    }

    /// Stops every part in order and waits for the background tasks: the last step of a
    /// shutdown, once connections are closed.
    pub async fn stop(&self) {
        self.0.stop_order.stop(Scope::Exit).await;
    }
}
