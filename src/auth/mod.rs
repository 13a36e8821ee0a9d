//! Who is calling: Basic credentials checked against argon2id hashes, a short-lived cache of
//! verified credentials, throttling of failures, and user management.
//!
//! A room panel polls every second; hashing each request would cost a core. A verified
//! credential is therefore remembered for a short time as a keyed hash (never the password
//! itself) and compared in constant time. Any change to any user drops the whole cache.
//! Unknown user names are hashed against a dummy hash so that a wrong user name and a
//! wrong password take the same time.
//!
//! Everything a login may cost before it is known to be valid is bounded: an attempt is
//! reserved with the throttle before it is verified (`throttle`), identical credentials
//! share one verification (`flight`), and verifications run on a fixed pool of threads
//! behind a bounded queue (`hashing`); beyond it a login is refused with
//! [`AuthError::Busy`].

mod flight;
mod hashing;
mod password;
pub(crate) mod permission;
mod throttle;
pub(crate) mod users;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use subtle::ConstantTimeEq;
use tokio::sync::broadcast;

pub(crate) use permission::Permission;
pub(crate) use users::{Users, UsersError};

use crate::config::AuthConfig;
use crate::model::User;
use crate::store::{self, Store, StoreError};
use flight::{Flight, Flights, Verdict};
use hashing::{Hashing, Ticket};
use throttle::{Outcome, Reservation, Throttle};

/// What a login refused because the verification queue is full is told to wait.
const BUSY_RETRY: Duration = Duration::from_secs(1);
/// User changes remembered for streams that end when their user changes; a stream that
/// falls further behind ends too (it cannot tell whether its user was among them).
const CHANGES_KEPT: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("credentials required")]
    Missing,
    #[error("invalid credentials")]
    Invalid,
    #[error("too many failed logins; retry in {} s", retry_after.as_secs())]
    Throttled { retry_after: Duration },
    #[error("too many logins are being verified; retry in {} s", retry_after.as_secs())]
    Busy { retry_after: Duration },
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct CachedCredential {
    digest: [u8; 32],
    user: User,
    verified_at: Instant,
}

struct Inner {
    store: Store,
    policy: AuthConfig,
    /// Random per process: cached digests are useless outside this process.
    cache_key: [u8; 32],
    cache: Mutex<HashMap<String, CachedCredential>>,
    /// Bumped on every user change; a verification that started before a change must not
    /// put its (possibly stale) result into the cache, nor be joined after it.
    generation: AtomicU64,
    throttle: Mutex<Throttle>,
    hashing: Hashing,
    flights: Flights,
    /// Ids of users just changed or deleted, for the streams they hold open.
    changes: broadcast::Sender<i64>,
    dummy_hash: String,
}

/// Cheap, cloneable handle to the authenticator.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

/// How a request got its verdict.
enum Joined {
    Cached(User),
    /// Launched by this request (`true`) or joined.
    Flight(Flight, bool),
}

/// A reservation handed back to the throttle when dropped, as not checked unless its
/// outcome was given: a flight that fails on the way never leaks an attempt in flight.
struct Reserved {
    auth: Authenticator,
    reservation: Option<Reservation>,
}

impl Reserved {
    fn finish(mut self, outcome: Outcome) {
        if let Some(r) = self.reservation.take() {
            self.auth.lock_throttle().finish(r, outcome, Instant::now());
        }
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if let Some(r) = self.reservation.take() {
            self.auth
                .lock_throttle()
                .finish(r, Outcome::NotChecked, Instant::now());
        }
    }
}

impl Authenticator {
    pub fn new(store: Store, policy: AuthConfig) -> Authenticator {
        // The memory this hash needs is handed to a hashing thread, not freed: a freed
        // 19 MiB block would raise glibc's mmap threshold and keep later blocks of that
        // size in arenas.
        let mut scratch = password::Scratch::default();
        let dummy_hash = password::hash(&password::random(), &mut scratch);
        Authenticator {
            inner: Arc::new(Inner {
                store,
                throttle: Mutex::new(Throttle::new(policy.clone())),
                policy,
                cache_key: rand::random(),
                cache: Mutex::new(HashMap::new()),
                generation: AtomicU64::new(0),
                hashing: Hashing::start(scratch),
                flights: Flights::default(),
                changes: broadcast::channel(CHANGES_KEPT).0,
                dummy_hash,
            }),
        }
    }

    /// Checks an `Authorization` header value from `addr`.
    pub async fn authenticate(
        &self,
        header: Option<&str>,
        addr: IpAddr,
    ) -> Result<User, AuthError> {
        let (username, password) = parse_basic(header.ok_or(AuthError::Missing)?)?;
        let now = Instant::now();
        self.lock_throttle()
            .check(addr, &username, now)
            .map_err(|retry_after| AuthError::Throttled { retry_after })?;
        if password.len() > password::MAX_LENGTH {
            // No password this long can be set: a wrong guess, known without hashing.
            self.lock_throttle().failure(addr, &username, now);
            return Err(AuthError::Invalid);
        }

        let digest = self.digest(&username, &password);
        if let Some(user) = self.cached(&username, &digest, now) {
            return Ok(user);
        }
        let (flight, launched) =
            match self.join_or_launch(username.clone(), password, digest, addr)? {
                Joined::Cached(user) => return Ok(user),
                Joined::Flight(flight, launched) => (flight, launched),
            };
        let verdict = flight.verdict.await;
        if !launched {
            // The flight counted its outcome for its own address and the user; a client
            // that joined from elsewhere made the same guess from its address.
            let now = Instant::now();
            match &verdict {
                Verdict::Verified(_) => self.lock_throttle().success(addr, &username, now),
                Verdict::Rejected if addr != flight.leader => {
                    self.lock_throttle().address_failure(addr, now)
                }
                _ => {}
            }
        }
        match verdict {
            Verdict::Verified(user) => Ok(user),
            Verdict::Rejected => Err(AuthError::Invalid),
            Verdict::Busy => Err(AuthError::Busy {
                retry_after: BUSY_RETRY,
            }),
            Verdict::StoreBusy => Err(StoreError::Busy.into()),
            Verdict::Failed(message) => Err(StoreError::Task(message).into()),
        }
    }

    /// Joins the flight of an identical credential, or reserves an attempt, takes a place
    /// in the hashing queue and launches one.
    fn join_or_launch(
        &self,
        username: String,
        password: String,
        digest: [u8; 32],
        addr: IpAddr,
    ) -> Result<Joined, AuthError> {
        let generation = self.inner.generation.load(Ordering::SeqCst);
        let key = (generation, digest);
        let mut flights = self.inner.flights.lock();
        if let Some(flight) = flights.get(&key) {
            return Ok(Joined::Flight(flight.clone(), false));
        }
        // A flight that ended between the cache lookup and here left its result in the cache.
        let now = Instant::now();
        if let Some(user) = self.cached(&username, &digest, now) {
            return Ok(Joined::Cached(user));
        }
        let reservation = self
            .lock_throttle()
            .reserve(addr, &username, now)
            .map_err(|retry_after| AuthError::Throttled { retry_after })?;
        let trusted = reservation.trusted();
        let reserved = Reserved {
            auth: self.clone(),
            reservation: Some(reservation),
        };
        let Some(ticket) = self.inner.hashing.admit(trusted) else {
            reserved.finish(Outcome::NotChecked);
            return Err(AuthError::Busy {
                retry_after: BUSY_RETRY,
            });
        };
        let verification = self
            .clone()
            .verification(username, password, digest, generation, ticket, reserved);
        let flight = self
            .inner
            .flights
            .launch(&mut flights, key, addr, verification);
        Ok(Joined::Flight(flight, true))
    }

    /// One verification, run as a flight: the user's hash (or the dummy hash, so an unknown
    /// name takes as long) checked on the hashing pool, the reservation settled, and a
    /// success cached unless a user changed since `generation`.
    async fn verification(
        self,
        username: String,
        password: String,
        digest: [u8; 32],
        generation: u64,
        ticket: Ticket,
        reserved: Reserved,
    ) -> Verdict {
        let lookup = username.clone();
        let record = match self
            .inner
            .store
            .read(move |conn| store::users::by_username(conn, &lookup))
            .await
        {
            Ok(record) => record,
            Err(StoreError::Busy) => return Verdict::StoreBusy,
            Err(e) => return Verdict::Failed(e.to_string()),
        };
        let (phc, user) = match record {
            Some(r) => (r.password_hash, Some(r.user)),
            None => (self.inner.dummy_hash.clone(), None),
        };
        let Ok(matches) = self.inner.hashing.verify(ticket, password, phc).await else {
            return Verdict::Busy;
        };
        match user {
            Some(user) if matches => {
                reserved.finish(Outcome::Succeeded);
                let mut cache = self.lock_cache();
                if self.inner.generation.load(Ordering::SeqCst) == generation {
                    cache.insert(
                        username,
                        CachedCredential {
                            digest,
                            user: user.clone(),
                            verified_at: Instant::now(),
                        },
                    );
                }
                Verdict::Verified(user)
            }
            _ => {
                reserved.finish(Outcome::Failed);
                Verdict::Rejected
            }
        }
    }

    /// Forgets every cached credential; call after any change to any user.
    pub fn invalidate(&self) {
        let mut cache = self.lock_cache();
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        cache.clear();
    }

    /// Forgets every cached credential and ends what user `id` holds open (event streams):
    /// call after the user was changed or deleted.
    pub fn user_changed(&self, id: i64) {
        self.invalidate();
        // No receiver is fine: no stream is open.
        let _ = self.inner.changes.send(id);
    }

    /// The generation of the user table: read it before authenticating a request, and hand
    /// it to [`Authenticator::until_changed`] for what the request keeps open.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::SeqCst)
    }

    /// Resolves once user `id`, authenticated when the user table was at `generation`, is
    /// changed or deleted, or when that can no longer be ruled out (a change since
    /// `generation` that came before this call; more changes than are kept, unread).
    pub fn until_changed(
        &self,
        id: i64,
        generation: u64,
    ) -> impl Future<Output = ()> + Send + 'static {
        let mut changes = self.inner.changes.subscribe();
        let changed_before = self.generation() != generation;
        async move {
            if changed_before {
                return;
            }
            loop {
                match changes.recv().await {
                    Ok(changed) if changed == id => return,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    // The authenticator is gone: the daemon is stopping, which ends streams.
                    Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
                }
            }
        }
    }

    /// Password verifications (argon2) computed since start.
    pub fn verifications(&self) -> u64 {
        self.inner.hashing.verifications()
    }

    fn hashing(&self) -> &Hashing {
        &self.inner.hashing
    }

    fn cached(&self, username: &str, digest: &[u8; 32], now: Instant) -> Option<User> {
        let ttl = Duration::from_secs(self.inner.policy.credential_cache_secs);
        let cache = self.lock_cache();
        let entry = cache.get(username)?;
        let fresh = now.duration_since(entry.verified_at) < ttl;
        (fresh && bool::from(entry.digest.ct_eq(digest))).then(|| entry.user.clone())
    }

    fn digest(&self, username: &str, password: &str) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new_keyed(&self.inner.cache_key);
        hasher.update(&(username.len() as u64).to_le_bytes());
        hasher.update(username.as_bytes());
        hasher.update(password.as_bytes());
        *hasher.finalize().as_bytes()
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, CachedCredential>> {
        self.inner
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_throttle(&self) -> std::sync::MutexGuard<'_, Throttle> {
        self.inner
            .throttle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Splits `Basic base64(user:password)`.
fn parse_basic(header: &str) -> Result<(String, String), AuthError> {
    let (scheme, encoded) = header.trim().split_once(' ').ok_or(AuthError::Invalid)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AuthError::Invalid);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| AuthError::Invalid)?;
    let text = String::from_utf8(decoded).map_err(|_| AuthError::Invalid)?;
    let (user, password) = text.split_once(':').ok_or(AuthError::Invalid)?;
    if user.is_empty() {
        return Err(AuthError::Invalid);
    }
    Ok((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt as _;

    fn basic(user: &str, pw: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
        )
    }

    #[test]
    fn basic_headers_are_parsed_strictly() {
        assert_eq!(
            parse_basic(&basic("admin", "a:b")).unwrap(),
            ("admin".to_string(), "a:b".to_string())
        );
        assert!(parse_basic("Bearer xyz").is_err());
        assert!(parse_basic("Basic !!!").is_err());
        assert!(parse_basic(&basic("", "pw")).is_err());
        assert!(parse_basic("Basic").is_err());
    }

    async fn with_panel() -> (tempfile::TempDir, Authenticator, Users, User) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a.db")).unwrap();
        let auth = Authenticator::new(store.clone(), AuthConfig::default());
        let users = Users::new(store, auth.clone());
        let user = users
            .create("panel", &[crate::model::Role::Presenter], "panel-password")
            .await
            .unwrap();
        (dir, auth, users, user)
    }

    #[tokio::test]
    async fn identical_logins_share_one_verification() {
        let (_dir, auth, _users, user) = with_panel().await;
        let addr: IpAddr = "127.0.0.1".parse().unwrap();
        let right = basic("panel", "panel-password");
        let wrong = basic("panel", "a wrong guess");
        let before = auth.verifications();
        let logins = (0..20).map(|_| auth.authenticate(Some(&right), addr));
        for result in futures_util::future::join_all(logins).await {
            assert_eq!(result.unwrap(), user);
        }
        assert_eq!(auth.verifications() - before, 1);

        let guesses = (0..20).map(|_| auth.authenticate(Some(&wrong), addr));
        for result in futures_util::future::join_all(guesses).await {
            assert!(matches!(result, Err(AuthError::Invalid)));
        }
        assert_eq!(auth.verifications() - before, 2, "one guess, checked once");
        assert!(auth.inner.flights.lock().is_empty());
    }

    #[tokio::test]
    async fn streams_end_when_their_own_user_changes() {
        let (_dir, auth, _users, _user) = with_panel().await;
        let at = auth.generation();
        let mut mine = std::pin::pin!(auth.until_changed(1, at));
        let other = auth.until_changed(2, at);
        auth.user_changed(2);
        tokio::time::timeout(Duration::from_secs(5), other)
            .await
            .expect("user 2's stream ends");
        assert!(
            mine.as_mut().now_or_never().is_none(),
            "user 1 was not changed"
        );
        auth.user_changed(1);
        tokio::time::timeout(Duration::from_secs(5), mine)
            .await
            .expect("user 1's stream ends");
        // Checked before a change, subscribed after it: ended at once.
        assert!(auth.until_changed(3, at).now_or_never().is_some());
    }

    #[tokio::test]
    async fn verified_credentials_are_cached_until_invalidated() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a.db")).unwrap();
        let auth = Authenticator::new(store.clone(), AuthConfig::default());
        let users = Users::new(store, auth.clone());
        let user = users
            .create("panel", &[crate::model::Role::Presenter], "panel-password")
            .await
            .unwrap();
        let addr: IpAddr = "127.0.0.1".parse().unwrap();
        let header = basic("panel", "panel-password");

        assert_eq!(auth.authenticate(Some(&header), addr).await.unwrap(), user);
        assert!(auth.lock_cache().contains_key("panel"));
        assert!(matches!(
            auth.authenticate(Some(&basic("panel", "wrong")), addr)
                .await,
            Err(AuthError::Invalid)
        ));

        users
            .update(user.id, Default::default(), Some("new-password"))
            .await
            .unwrap();
        assert!(
            auth.lock_cache().is_empty(),
            "a password change drops the cache"
        );
        assert!(matches!(
            auth.authenticate(Some(&header), addr).await,
            Err(AuthError::Invalid)
        ));
        assert!(matches!(
            auth.authenticate(None, addr).await,
            Err(AuthError::Missing)
        ));
    }
}
