//! The hashing threads: a small fixed pool that runs every argon2 computation of the
//! process, in front of a bounded queue.
//!
//! Logins arrive from the network, and each verification costs tens of milliseconds of a
//! core and 19 MiB. On a fixed number of threads, each reusing its own working memory
//! ([`Scratch`]), argon2's memory is fixed too (threads × 19 MiB) whatever arrives. A
//! verification must be *admitted* first ([`Hashing::admit`]): beyond [`CAPACITY`] queued
//! or running verifications a flood is refused at once (the caller answers 503) instead of
//! queueing without end. The last [`RESERVED_FOR_TRUSTED`] places are kept for logins from
//! where the user logged in before, so a flood of strangers cannot keep the room panel out.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::password::{self, Scratch};

/// Threads computing hashes: the capture appliance has two cores, and capturing must keep
/// at least one of them whatever arrives from the network.
const MAX_THREADS: usize = 2;
/// Verifications admitted at once (running or queued). With two threads at about 50 ms
/// each, the last one admitted waits about 0.4 s.
pub(super) const CAPACITY: usize = 16;
/// Places of [`CAPACITY`] only logins from a (user, address) pair that logged in before
/// may take.
pub(super) const RESERVED_FOR_TRUSTED: usize = 4;

/// The pool cannot compute hashes (no thread could be started, or it stopped).
#[derive(Debug, thiserror::Error)]
#[error("password hashing is unavailable")]
pub(super) struct Unavailable;

enum Job {
    Verify {
        password: String,
        phc: String,
        reply: oneshot::Sender<bool>,
    },
    Hash {
        password: String,
        reply: oneshot::Sender<String>,
    },
}

struct Shared {
    /// `None` when no thread could be started.
    jobs: Option<mpsc::Sender<Job>>,
    admitted: AtomicUsize,
    /// Verifications computed, counted by the threads.
    verifications: Arc<AtomicU64>,
}

/// Cheap, cloneable handle to the hashing threads; they end when the last handle goes.
#[derive(Clone)]
pub(super) struct Hashing {
    shared: Arc<Shared>,
}

/// A verification's place in the queue, given back when dropped.
pub(super) struct Ticket {
    shared: Arc<Shared>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.shared.admitted.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Hashing {
    /// Starts the threads; the first one keeps `scratch` (memory already allocated, e.g.
    /// for a hash made before the pool ran) instead of allocating its own.
    pub(super) fn start(scratch: Scratch) -> Hashing {
        let wanted = std::thread::available_parallelism()
            .map_or(MAX_THREADS, |n| n.get())
            .min(MAX_THREADS);
        let mut first = Some(scratch);
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let verifications = Arc::new(AtomicU64::new(0));
        let mut started = 0;
        for n in 0..wanted {
            let receiver = receiver.clone();
            let counted = verifications.clone();
            let scratch = first.take().unwrap_or_default();
            match std::thread::Builder::new()
                .name(format!("castd-hash-{n}"))
                .spawn(move || work(&receiver, &counted, scratch))
            {
                Ok(_) => started += 1,
                Err(e) => log::error!("cannot start a password hashing thread: {e}"),
            }
        }
        if started == 0 {
            log::error!(
                "no password hashing thread runs: every login needing a password check is refused"
            );
        }
        Hashing {
            shared: Arc::new(Shared {
                jobs: (started > 0).then_some(sender),
                admitted: AtomicUsize::new(0),
                verifications,
            }),
        }
    }

    /// A place in the queue, or `None` when it is full (for a stranger, `None` already
    /// when only the reserved places are left).
    pub(super) fn admit(&self, trusted: bool) -> Option<Ticket> {
        let limit = if trusted {
            CAPACITY
        } else {
            CAPACITY - RESERVED_FOR_TRUSTED
        };
        self.shared
            .admitted
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Ticket {
                shared: self.shared.clone(),
            })
    }

    /// Whether `password` matches the PHC string; the ticket is held until the answer.
    pub(super) async fn verify(
        &self,
        ticket: Ticket,
        password: String,
        phc: String,
    ) -> Result<bool, Unavailable> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Verify {
            password,
            phc,
            reply,
        })?;
        let matches = answer.await.map_err(|_| Unavailable);
        drop(ticket);
        matches
    }

    /// A new PHC string for `password`. Not admitted: only authenticated Administrators
    /// set passwords, and their requests wait behind the logins.
    pub(super) async fn hash(&self, password: String) -> Result<String, Unavailable> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Hash { password, reply })?;
        answer.await.map_err(|_| Unavailable)
    }

    /// Password verifications computed (or being computed) since start.
    pub(super) fn verifications(&self) -> u64 {
        self.shared.verifications.load(Ordering::Relaxed)
    }

    fn send(&self, job: Job) -> Result<(), Unavailable> {
        let jobs = self.shared.jobs.as_ref().ok_or(Unavailable)?;
        jobs.send(job).map_err(|_| Unavailable)
    }
}

/// One hashing thread: takes jobs until every handle is gone.
fn work(jobs: &Mutex<mpsc::Receiver<Job>>, verifications: &AtomicU64, mut scratch: Scratch) {
    loop {
        let job = {
            let receiver = jobs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match receiver.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        // A panic in argon2 fails this job (its caller sees `Unavailable`), not the thread.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match job {
            Job::Verify {
                password,
                phc,
                reply,
            } => {
                verifications.fetch_add(1, Ordering::Relaxed);
                let _ = reply.send(password::verify(&password, &phc, &mut scratch));
            }
            Job::Hash { password, reply } => {
                let _ = reply.send(password::hash(&password, &mut scratch));
            }
        }));
        if ran.is_err() {
            log::error!("a password hashing job panicked");
            scratch = Scratch::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn admission_is_bounded_with_places_kept_for_trusted_logins() {
        let pool = Hashing::start(Scratch::default());
        let strangers: Vec<Ticket> = std::iter::from_fn(|| pool.admit(false)).take(100).collect();
        assert_eq!(strangers.len(), CAPACITY - RESERVED_FOR_TRUSTED);
        let trusted: Vec<Ticket> = std::iter::from_fn(|| pool.admit(true)).take(100).collect();
        assert_eq!(trusted.len(), RESERVED_FOR_TRUSTED);
        drop(strangers);
        assert!(
            pool.admit(false).is_some(),
            "places come back when tickets go"
        );
    }

    #[tokio::test]
    async fn verifications_run_on_the_pool_and_are_counted() {
        let pool = Hashing::start(Scratch::default());
        let phc = pool.hash("a password".into()).await.unwrap();
        let checks = ["a password", "wrong", "a password", "wrong again"].map(|pw| {
            let pool = pool.clone();
            let phc = phc.clone();
            async move {
                let ticket = pool.admit(false).unwrap();
                pool.verify(ticket, pw.into(), phc).await.unwrap()
            }
        });
        let results = futures_util::future::join_all(checks).await;
        assert_eq!(results, [true, false, true, false]);
        assert_eq!(
            pool.verifications(),
            4,
            "hashing a new password is not counted"
        );
        assert!(pool.admit(false).is_some());
    }
}
