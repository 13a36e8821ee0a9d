//! One verification in flight per identical credential.
//!
//! When the credential cache is dropped (any change to any user), every client of a room
//! panel's account logs in again at once: hundreds of event streams reconnecting with the
//! same user and password. They need one verification, not hundreds. The first request
//! for a credential *launches* a flight; identical requests arriving while it runs *join*
//! it and share its verdict.
//!
//! A flight runs as its own task: the client that launched it may go away (its request
//! future is dropped) without stopping the verification the others wait for, and the
//! outcome is always counted by the throttle. It leaves the table when it ends, after its
//! result went into the cache, so an identical request finds either the flight or the
//! cached credential.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};

use crate::model::User;

/// A credential as of one generation of the user table: a flight started before a user
/// change is never joined after it.
pub(super) type Key = (u64, [u8; 32]);

/// What a flight found.
#[derive(Debug, Clone)]
pub(super) enum Verdict {
    Verified(User),
    Rejected,
    /// The hashing pool could not take the verification.
    Busy,
    /// The database was busy.
    StoreBusy,
    /// Something else failed (the message is logged by the caller's error path).
    Failed(String),
}

/// A flight others can join.
#[derive(Clone)]
pub(super) struct Flight {
    /// The address of the client that launched it (its throttle counts were taken there).
    pub leader: IpAddr,
    pub verdict: Shared<BoxFuture<'static, Verdict>>,
}

type Table = HashMap<Key, Flight>;

/// The flights in progress.
#[derive(Clone, Default)]
pub(super) struct Flights {
    table: Arc<Mutex<Table>>,
}

/// Removes a flight from the table when its task ends, even by a panic.
struct Landing {
    table: Arc<Mutex<Table>>,
    key: Key,
}

impl Drop for Landing {
    fn drop(&mut self) {
        lock(&self.table).remove(&self.key);
    }
}

fn lock(table: &Mutex<Table>) -> MutexGuard<'_, Table> {
    table
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Flights {
    /// The table, locked: look a key up and launch under the same lock, so two identical
    /// requests cannot both launch.
    pub(super) fn lock(&self) -> MutexGuard<'_, Table> {
        lock(&self.table)
    }

    /// Starts `verification` as the flight for `key` (absent from `table`, which must be
    /// this table, locked).
    pub(super) fn launch(
        &self,
        table: &mut MutexGuard<'_, Table>,
        key: Key,
        leader: IpAddr,
        verification: impl Future<Output = Verdict> + Send + 'static,
    ) -> Flight {
        let landing = Landing {
            table: self.table.clone(),
            key,
        };
        let task = tokio::spawn(async move {
            let verdict = verification.await;
            drop(landing);
            verdict
        });
        let verdict = async move {
            task.await
                .unwrap_or_else(|e| Verdict::Failed(format!("the verification task failed: {e}")))
        }
        .boxed()
        .shared();
        let flight = Flight { leader, verdict };
        table.insert(key, flight.clone());
        flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const HERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn identical_requests_share_one_verification_that_outlives_its_launcher() {
        let flights = Flights::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let counted = runs.clone();
        let key = (0, [7; 32]);
        let launched = {
            let mut table = flights.lock();
            flights.launch(&mut table, key, HERE, async move {
                counted.fetch_add(1, Ordering::SeqCst);
                let _ = released.await;
                Verdict::Rejected
            })
        };
        let joined = flights.lock().get(&key).cloned().expect("in the table");
        // The launching client goes away; the flight goes on for the one that joined.
        drop(launched);
        release.send(()).unwrap();
        assert!(matches!(joined.verdict.await, Verdict::Rejected));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(
            flights.lock().is_empty(),
            "a flight leaves the table when it ends"
        );
    }

    #[tokio::test]
    async fn a_flight_that_panics_leaves_the_table_and_fails_its_waiters() {
        let flights = Flights::default();
        let flight = {
            let mut table = flights.lock();
            flights.launch(&mut table, (1, [0; 32]), HERE, async {
                panic!("verification broke")
            })
        };
        assert!(matches!(flight.verdict.await, Verdict::Failed(_)));
        assert!(flights.lock().is_empty());
    }
}
