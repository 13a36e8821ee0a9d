//! The engine's outbox: package writes, bus events and answers, carried out by one async
//! task in the order the engine thread queued them.
//!
//! The engine thread never waits for the store (a package write is an fsync'd SQLite
//! transaction, `synchronous=FULL`), yet what it did must be seen in the order it did it:
//! a package row before the answer that names it, a session's `capturing` before its
//! `paused`, the final package write before the `idle` that automatic publishing acts on.
//! Everything observable goes through this one queue, so that order holds. Nothing here
//! decides anything; a failed write is logged, as the engine did when it wrote itself.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::CaptureError;
use crate::events::{Bus, Event};
use crate::model::{Marker, MediaPackage};
use crate::packages::Packages;

type Reply<T> = tokio::sync::oneshot::Sender<Result<T, CaptureError>>;

enum Job {
    Save(Box<MediaPackage>),
    AddMarker {
        package_id: String,
        marker: Marker,
    },
    /// Boxed: an event is large, and every job would be as large as the largest.
    Announce(Box<Event>),
    Then(Box<dyn FnOnce() + Send>),
}

/// The engine thread's end of the queue.
pub(super) struct Outbox {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Outbox {
    /// Starts the task that carries the jobs out; it ends once the outbox is dropped and
    /// every job queued before is done.
    pub(super) fn start(
        packages: Packages,
        bus: Bus,
        runtime: &tokio::runtime::Handle,
    ) -> (Outbox, JoinHandle<()>) {
        let (jobs, queue) = mpsc::unbounded_channel();
        let task = runtime.spawn(run(queue, packages, bus));
        (Outbox { jobs }, task)
    }

    fn push(&self, job: Job) {
        // The task ends only after the outbox is dropped, so this cannot fail while the
        // engine runs.
        let _ = self.jobs.send(job);
    }

    /// Writes the package row and its manifest.
    pub(super) fn save(&self, package: &MediaPackage) {
        self.push(Job::Save(Box::new(package.clone())));
    }

    /// Appends one marker to a package's row.
    pub(super) fn add_marker(&self, package_id: &str, marker: &Marker) {
        self.push(Job::AddMarker {
            package_id: package_id.to_string(),
            marker: marker.clone(),
        });
    }

    /// Publishes an event on the bus.
    pub(super) fn announce(&self, event: Event) {
        self.push(Job::Announce(Box::new(event)));
    }

    /// Runs `then` once everything queued before is done.
    pub(super) fn then(&self, then: impl FnOnce() + Send + 'static) {
        self.push(Job::Then(Box::new(then)));
    }

    /// Answers a caller once everything queued before is done.
    pub(super) fn reply<T: Send + 'static>(
        &self,
        reply: Reply<T>,
        answer: Result<T, CaptureError>,
    ) {
        self.then(move || {
            let _ = reply.send(answer);
        });
    }
}

async fn run(mut queue: mpsc::UnboundedReceiver<Job>, packages: Packages, bus: Bus) {
    while let Some(job) = queue.recv().await {
        match job {
            Job::Save(package) => {
                if let Err(e) = packages.save(&package).await {
                    log::error!("cannot store package {}: {e}", package.id);
                }
            }
            Job::AddMarker { package_id, marker } => {
                if let Err(e) = packages.add_marker(&package_id, &marker).await {
                    log::error!("cannot store marker of {package_id}: {e}");
                }
            }
            Job::Announce(event) => bus.publish(*event),
            Job::Then(then) => then(),
        }
    }
}
