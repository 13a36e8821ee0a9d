//! The auto-publisher: every finished capture whose request and template want publishing
//! is queued, once, at start and whenever a capture ends. It decides; the queue uploads.

use super::{PublishError, Publishing, config};
use crate::events::Event;
use crate::model::{CaptureState, PackageState};
use crate::store;

impl Publishing {
    /// Decides the automatic publishing of a finished package, once.
    pub(super) async fn auto_publish(&self, package_id: &str) -> Result<(), PublishError> {
        let package = self.inner.packages.get(package_id).await?;
        let wanted = matches!(
            package.state,
            PackageState::Complete | PackageState::Partial
        ) && package.request.publishing;
        let mut planned = Vec::new();
        if wanted {
            for target in self.default_targets(&package).await? {
                let stored = self.stored_config(&target.publisher_id).await?;
                // Invalid configurations are queued anyway: the job fails visibly with the
                // reason instead of the recording silently not being published.
                planned.push((
                    target.publisher_id.clone(),
                    config::merge(&target.publisher_id, &stored, &target.config),
                ));
            }
        }
        if planned.is_empty() {
            let id = package.id.clone();
            self.inner
                .store
                .write(move |tx| store::publish::mark_decided(tx, &id))
                .await?;
            return Ok(());
        }
        let jobs = self.enqueue(&package.id, planned).await?;
        log::info!(
            "media package {} queued for publishing to {}",
            package.id,
            jobs.iter()
                .map(|j| j.publisher_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(())
    }

    /// Enqueues finished captures: every package that finished and was not decided yet
    /// (at start, then whenever a capture ends).
    pub(super) async fn auto_publisher(self) {
        let mut events = self.inner.bus.subscribe();
        let stop = self.inner.tasks.stopped();
        tokio::pin!(stop);
        loop {
            match self.inner.store.read(store::publish::undecided).await {
                Ok(ids) => {
                    for id in ids {
                        if let Err(e) = self.auto_publish(&id).await {
                            log::warn!("automatic publishing of {id}: {e}");
                        }
                    }
                }
                Err(e) => log::error!("publish queue: {e}"),
            }
            // Wait for a capture to end (or lost events: then look anyway).
            loop {
                tokio::select! {
                    () = &mut stop => return,
                    received = events.recv() => match received {
                        Ok(envelope) => {
                            if let Event::CaptureState { state: CaptureState::Idle, .. } = envelope.event {
                                break;
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    }
                }
            }
        }
    }
}
