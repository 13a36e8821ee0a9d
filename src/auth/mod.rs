//! Who is calling: Basic credentials checked against argon2id hashes, a short-lived cache of
//! verified credentials, throttling of failures, and user management.
//!
//! A room panel polls every second; hashing each request would cost a core. A verified
//! credential is therefore remembered for a short time as a keyed hash (never the password
//! itself) and compared in constant time. Any change to any user drops the whole cache.
//! Unknown user names are hashed against a dummy hash so that a wrong user name and a
//! wrong password take the same time.

mod password;
pub mod permission;
mod throttle;
pub mod users;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use subtle::ConstantTimeEq;

pub use password::{MIN_LENGTH as MIN_PASSWORD_LENGTH, random as random_password};
pub use permission::Permission;
pub use users::{Users, UsersError};

use crate::config::AuthConfig;
use crate::model::User;
use crate::store::{self, Store, StoreError};
use throttle::Throttle;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("credentials required")]
    Missing,
    #[error("invalid credentials")]
    Invalid,
    #[error("too many failed logins; retry in {} s", retry_after.as_secs())]
    Throttled { retry_after: Duration },
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
    /// put its (possibly stale) result into the cache.
    generation: AtomicU64,
    throttle: Mutex<Throttle>,
    /// Bounds concurrent argon2 work (about 19 MiB and tens of ms each).
    hashing: tokio::sync::Semaphore,
    dummy_hash: String,
}

/// Cheap, cloneable handle to the authenticator.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

impl Authenticator {
    pub fn new(store: Store, policy: AuthConfig) -> Authenticator {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Authenticator {
            inner: Arc::new(Inner {
                store,
                throttle: Mutex::new(Throttle::new(policy.clone())),
                policy,
                cache_key: rand::random(),
                cache: Mutex::new(HashMap::new()),
                generation: AtomicU64::new(0),
                hashing: tokio::sync::Semaphore::new(cores),
                dummy_hash: password::hash(&password::random()),
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

        let digest = self.digest(&username, &password);
        if let Some(user) = self.cached(&username, &digest, now) {
            return Ok(user);
        }

        let generation = self.inner.generation.load(Ordering::SeqCst);
        let lookup = username.clone();
        let record = self
            .inner
            .store
            .read(move |conn| store::users::by_username(conn, &lookup))
            .await?;
        let (phc, user) = match record {
            Some(r) => (r.password_hash, Some(r.user)),
            None => (self.inner.dummy_hash.clone(), None),
        };
        let permit = self
            .inner
            .hashing
            .acquire()
            .await
            .expect("semaphore is never closed");
        let matches = tokio::task::spawn_blocking(move || password::verify(&password, &phc))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?;
        drop(permit);

        let now = Instant::now();
        match user {
            Some(user) if matches => {
                self.lock_throttle().success(addr, &username, now);
                let mut cache = self.lock_cache();
                if self.inner.generation.load(Ordering::SeqCst) == generation {
                    cache.insert(
                        username,
                        CachedCredential {
                            digest,
                            user: user.clone(),
                            verified_at: now,
                        },
                    );
                }
                Ok(user)
            }
            _ => {
                self.lock_throttle().failure(addr, &username, now);
                Err(AuthError::Invalid)
            }
        }
    }

    /// Forgets every cached credential; call after any change to any user.
    pub fn invalidate(&self) {
        let mut cache = self.lock_cache();
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        cache.clear();
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
