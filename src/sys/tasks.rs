//! The daemon's background tasks: one owner that starts them, tells them to stop, and
//! waits for them.
//!
//! Every long-lived task castd runs (device watches, the schedule's timer, the publish
//! queue, the audit writer, the live figures, the watchdog) is spawned through a [`Tasks`]
//! handle instead of a detached `tokio::spawn`, so the stop sequence can end them in its
//! order and know when they are gone. A part receives its own [`Tasks::child`]: stopping
//! the part stops its tasks only; stopping the root stops them all. This module never
//! decides *when* to stop: that is the stop sequence's (`daemon`).

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A handle to a group of background tasks and their stop signal. Cheap to clone; clones
/// share the signal.
#[derive(Clone, Debug, Default)]
pub struct Tasks {
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl Tasks {
    /// A group whose stop is its own, and also follows this group's stop. Its tasks are
    /// waited for with this group's.
    pub fn child(&self) -> Tasks {
        Tasks {
            stop: self.stop.child_token(),
            tracker: self.tracker.clone(),
        }
    }

    /// Runs `task` until it ends or the group is told to stop, whichever is first; at the
    /// stop it is dropped where it waits.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let stop = self.stop.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = task => {}
            }
        });
    }

    /// Runs `task` to its own end: for a task that must finish a step before it stops (a
    /// database write, an upload's checkpoint), so it watches [`Tasks::stopped`] itself.
    /// The stop sequence still waits for it.
    pub fn spawn_finishing<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task);
    }

    /// Tells every task of this group (and of its children) to stop.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Whether the group was told to stop.
    pub fn is_stopped(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Resolves once the group is told to stop.
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        self.stop.clone().cancelled_owned()
    }

    /// Waits, at most `bound`, until every task spawned through this group's tree has
    /// ended; false when some were still running then. No task can be added afterwards.
    pub async fn wait(&self, bound: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(bound, self.tracker.wait())
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Notes that a task ended (returned or was dropped).
    struct Ended(Arc<AtomicBool>);

    impl Drop for Ended {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn stopping_a_child_ends_its_tasks_only() {
        let root = Tasks::default();
        let first = root.child();
        let second = root.child();
        let (first_done, second_done) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        for (group, done) in [(&first, first_done.clone()), (&second, second_done.clone())] {
            let ended = Ended(done);
            group.spawn(async move {
                let _ended = ended;
                std::future::pending::<()>().await;
            });
        }
        first.stop();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(first.is_stopped());
        assert!(first_done.load(Ordering::SeqCst));
        assert!(!second.is_stopped());
        assert!(!second_done.load(Ordering::SeqCst));
        root.stop();
        assert!(second.is_stopped(), "a child follows its parent's stop");
        assert!(root.wait(Duration::from_secs(5)).await);
        assert!(second_done.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn wait_reports_tasks_that_outlive_the_bound() {
        let tasks = Tasks::default();
        // Ignores the stop signal on purpose: only the bound ends the wait.
        tasks.spawn_finishing(std::future::pending::<()>());
        tasks.stop();
        assert!(!tasks.wait(Duration::from_millis(10)).await);
    }

    #[tokio::test]
    async fn a_stopped_group_drops_tasks_that_do_not_watch_the_signal() {
        let tasks = Tasks::default();
        tasks.spawn(std::future::pending::<()>());
        tasks.stop();
        assert!(tasks.wait(Duration::from_secs(5)).await);
    }
}
