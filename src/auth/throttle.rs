//! Throttling of failed logins, per client address and per user name.
//!
//! Failures inside a window are counted; past the limit the key is locked out for a time
//! that doubles with each further failure. An attacker guessing one user's password from
//! many addresses must not lock the room panel out, so a (user, address) pair that logged
//! in successfully in the last day is exempt from the per-user lock (the per-address lock
//! still applies to everyone).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::config::AuthConfig;

/// How long a successful login exempts its (user, address) pair from the per-user lock.
const TRUST_FOR: Duration = Duration::from_secs(24 * 3600);
/// Bound on remembered keys, so random user names cannot grow memory without limit.
const MAX_KEYS: usize = 10_000;

#[derive(Debug, Default)]
struct Failures {
    times: VecDeque<Instant>,
    locked_until: Option<Instant>,
}

#[derive(Debug)]
struct Counter<K> {
    limit: u32,
    entries: HashMap<K, Failures>,
}

impl<K: Hash + Eq + Clone> Counter<K> {
    fn new(limit: u32) -> Self {
        Counter {
            limit,
            entries: HashMap::new(),
        }
    }

    fn locked(&self, key: &K, now: Instant) -> Option<Duration> {
        let until = self.entries.get(key)?.locked_until?;
        (until > now).then(|| until - now)
    }

    fn fail(&mut self, key: K, now: Instant, policy: &AuthConfig) {
        let window = Duration::from_secs(policy.failure_window_secs);
        if self.entries.len() >= MAX_KEYS && !self.entries.contains_key(&key) {
            self.prune(now, window);
        }
        let entry = self.entries.entry(key).or_default();
        while entry
            .times
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            entry.times.pop_front();
        }
        entry.times.push_back(now);
        let count = entry.times.len() as u32;
        if count >= self.limit {
            let excess = (count - self.limit).min(20);
            let lock = Duration::from_secs(policy.base_lockout_secs.saturating_mul(1 << excess))
                .min(Duration::from_secs(policy.max_lockout_secs));
            entry.locked_until = Some(now + lock);
        }
        // Keep only what the window needs; a lock outlives its failures by design.
        while entry.times.len() > self.limit as usize + 20 {
            entry.times.pop_front();
        }
    }

    fn clear(&mut self, key: &K) {
        self.entries.remove(key);
    }

    fn prune(&mut self, now: Instant, window: Duration) {
        self.entries.retain(|_, f| {
            f.locked_until.is_some_and(|u| u > now)
                || f.times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) <= window)
        });
        if self.entries.len() >= MAX_KEYS {
            // Still full of active keys: forget the ones whose last failure is oldest.
            let mut by_age: Vec<(K, Instant)> = self
                .entries
                .iter()
                .map(|(k, f)| (k.clone(), f.times.back().copied().unwrap_or(now)))
                .collect();
            by_age.sort_by_key(|(_, t)| *t);
            for (key, _) in by_age.into_iter().take(MAX_KEYS / 10) {
                self.entries.remove(&key);
            }
        }
    }
}

/// The throttle state; the owner serialises access.
#[derive(Debug)]
pub struct Throttle {
    policy: AuthConfig,
    addresses: Counter<IpAddr>,
    users: Counter<String>,
    trusted: HashMap<(String, IpAddr), Instant>,
}

impl Throttle {
    pub fn new(policy: AuthConfig) -> Throttle {
        Throttle {
            addresses: Counter::new(policy.max_failures_per_address.max(1)),
            users: Counter::new(policy.max_failures_per_user.max(1)),
            trusted: HashMap::new(),
            policy,
        }
    }

    /// `Err(retry_after)` when a login attempt for `user` from `addr` must not even be tried.
    pub fn check(&self, addr: IpAddr, user: &str, now: Instant) -> Result<(), Duration> {
        if let Some(wait) = self.addresses.locked(&addr, now) {
            return Err(wait);
        }
        let user = user.to_lowercase();
        let trusted = self
            .trusted
            .get(&(user.clone(), addr))
            .is_some_and(|t| now.duration_since(*t) < TRUST_FOR);
        match self.users.locked(&user, now) {
            Some(wait) if !trusted => Err(wait),
            _ => Ok(()),
        }
    }

    pub fn failure(&mut self, addr: IpAddr, user: &str, now: Instant) {
        self.addresses.fail(addr, now, &self.policy);
        self.users.fail(user.to_lowercase(), now, &self.policy);
    }

    pub fn success(&mut self, addr: IpAddr, user: &str, now: Instant) {
        let user = user.to_lowercase();
        self.addresses.clear(&addr);
        self.users.clear(&user);
        if self.trusted.len() >= MAX_KEYS {
            self.trusted
                .retain(|_, t| now.duration_since(*t) < TRUST_FOR);
        }
        if self.trusted.len() < MAX_KEYS {
            self.trusted.insert((user, addr), now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> AuthConfig {
        AuthConfig {
            max_failures_per_address: 3,
            max_failures_per_user: 5,
            failure_window_secs: 60,
            base_lockout_secs: 10,
            max_lockout_secs: 40,
            credential_cache_secs: 60,
        }
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn an_address_is_locked_after_its_limit_and_the_lock_grows() {
        let mut t = Throttle::new(policy());
        let now = Instant::now();
        for _ in 0..2 {
            t.failure(A, "x", now);
        }
        assert!(t.check(A, "x", now).is_ok());
        t.failure(A, "x", now);
        assert_eq!(t.check(A, "x", now), Err(Duration::from_secs(10)));
        assert!(
            t.check(B, "y", now).is_ok(),
            "other addresses are not affected"
        );
        t.failure(A, "x", now);
        assert_eq!(t.check(A, "x", now), Err(Duration::from_secs(20)));
        t.failure(A, "x", now);
        t.failure(A, "x", now);
        assert_eq!(t.check(A, "x", now), Err(Duration::from_secs(40)), "capped");
        assert!(t.check(A, "x", now + Duration::from_secs(41)).is_ok());
    }

    #[test]
    fn failures_outside_the_window_are_forgotten() {
        let mut t = Throttle::new(policy());
        let now = Instant::now();
        t.failure(A, "x", now);
        t.failure(A, "x", now);
        t.failure(A, "x", now + Duration::from_secs(61));
        assert!(t.check(A, "x", now + Duration::from_secs(61)).is_ok());
    }

    #[test]
    fn a_user_is_locked_across_addresses_except_where_it_logged_in_before() {
        let mut t = Throttle::new(policy());
        let now = Instant::now();
        t.success(B, "panel", now);
        for i in 0..5u8 {
            let attacker = IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 0, i));
            t.failure(attacker, "Panel", now);
        }
        let stranger = IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 1, 1));
        assert!(t.check(stranger, "panel", now).is_err());
        assert!(
            t.check(B, "panel", now).is_ok(),
            "the panel's own address keeps working"
        );
    }

    #[test]
    fn success_clears_the_address_count() {
        let mut t = Throttle::new(policy());
        let now = Instant::now();
        t.failure(A, "x", now);
        t.failure(A, "x", now);
        t.success(A, "x", now);
        t.failure(A, "x", now);
        assert!(t.check(A, "x", now).is_ok());
    }
}
