//! Throttling of failed logins, per client address and per user name.
//!
//! Failures inside a window are counted; past the limit the key is locked out for a time
//! that doubles with each further failure. An attacker guessing one user's password from
//! many addresses must not lock the room panel out, so a (user, address) pair that logged
//! in successfully in the last day is exempt from the per-user lock (the per-address lock
//! still applies to everyone).
//!
//! A guess is known to be wrong only when its verification ends, tens of milliseconds
//! later. So that parallel guesses cannot all start before the first failure is counted,
//! an attempt is *reserved* before it is verified: a key may have in flight only as many
//! attempts as it has failures left before its lock (at least one, so a lock that ran out
//! allows the next attempt as it does sequentially, and at most [`MAX_IN_FLIGHT`]). A burst
//! of guesses therefore gets no more verified than the same guesses one after the other.
//!
//! A successful login clears no failure count. Clearing the address's count let anyone
//! with one valid account alternate good logins with guesses at another account without
//! ever being throttled. Clearing the user's count would let the user's own regular
//! logins (a room panel is verified afresh whenever its cached credential expires) wipe out
//! what an attacker spraying from many addresses has accumulated. The user is protected
//! from being locked out by the trusted pair instead; a few typos simply age out of the
//! window.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::config::AuthConfig;

/// How long a successful login exempts its (user, address) pair from the per-user lock.
const TRUST_FOR: Duration = Duration::from_secs(24 * 3600);
/// Bound on remembered keys, so random user names cannot grow memory without limit.
const MAX_KEYS: usize = 10_000;
/// Attempts one address (or one user) may have in flight at once, whatever its budget: one
/// client can hold only a few places of the verification queue.
pub(super) const MAX_IN_FLIGHT: u32 = 4;
/// What a client refused because of attempts in flight is told to wait: they end within
/// about a second.
const IN_FLIGHT_RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct Failures {
    times: VecDeque<Instant>,
    locked_until: Option<Instant>,
    /// Attempts reserved and not yet finished.
    in_flight: u32,
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

    /// `Err(retry_after)` when `key` may not start another attempt: it is locked, or it has
    /// as many attempts in flight as its budget allows.
    fn may_start(&self, key: &K, now: Instant, window: Duration) -> Result<(), Duration> {
        if let Some(wait) = self.locked(key, now) {
            return Err(wait);
        }
        let Some(entry) = self.entries.get(key) else {
            return Ok(());
        };
        let recent = entry
            .times
            .iter()
            .filter(|t| now.duration_since(**t) <= window)
            .count();
        let left = self
            .limit
            .saturating_sub(u32::try_from(recent).unwrap_or(u32::MAX));
        if entry.in_flight >= left.clamp(1, MAX_IN_FLIGHT) {
            return Err(IN_FLIGHT_RETRY);
        }
        Ok(())
    }

    fn start(&mut self, key: K, now: Instant, window: Duration) {
        self.make_room(&key, now, window);
        self.entries.entry(key).or_default().in_flight += 1;
    }

    fn finish(&mut self, key: &K) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.in_flight = entry.in_flight.saturating_sub(1);
        }
    }

    fn fail(&mut self, key: K, now: Instant, policy: &AuthConfig) {
        let window = Duration::from_secs(policy.failure_window_secs);
        self.make_room(&key, now, window);
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

    fn make_room(&mut self, key: &K, now: Instant, window: Duration) {
        if self.entries.len() >= MAX_KEYS && !self.entries.contains_key(key) {
            self.prune(now, window);
        }
    }

    fn prune(&mut self, now: Instant, window: Duration) {
        self.entries.retain(|_, f| {
            f.in_flight > 0
                || f.locked_until.is_some_and(|u| u > now)
                || f.times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) <= window)
        });
        if self.entries.len() >= MAX_KEYS {
            // Still full of active keys: forget the ones whose last failure is oldest.
            let mut by_age: Vec<(K, Instant)> = self
                .entries
                .iter()
                .filter(|(_, f)| f.in_flight == 0)
                .map(|(k, f)| (k.clone(), f.times.back().copied().unwrap_or(now)))
                .collect();
            by_age.sort_by_key(|(_, t)| *t);
            for (key, _) in by_age.into_iter().take(MAX_KEYS / 10) {
                self.entries.remove(&key);
            }
        }
    }
}

/// An attempt that may be verified; hand it back to [`Throttle::finish`] exactly once.
#[derive(Debug)]
pub(super) struct Reservation {
    addr: IpAddr,
    user: String,
    /// Whether the attempt counts against the user's attempts in flight (not for a
    /// trusted pair, which the user's lock does not apply to either).
    holds_user: bool,
}

impl Reservation {
    /// Whether the user logged in successfully from this address before.
    pub(super) fn trusted(&self) -> bool {
        !self.holds_user
    }
}

/// How a reserved attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Succeeded,
    Failed,
    /// Not verified (the queue was full, the database failed): counts as nothing.
    NotChecked,
}

/// The throttle state; the owner serialises access.
#[derive(Debug)]
pub(super) struct Throttle {
    policy: AuthConfig,
    addresses: Counter<IpAddr>,
    users: Counter<String>,
    trusted: HashMap<(String, IpAddr), Instant>,
}

impl Throttle {
    pub(super) fn new(policy: AuthConfig) -> Throttle {
        Throttle {
            addresses: Counter::new(policy.max_failures_per_address.max(1)),
            users: Counter::new(policy.max_failures_per_user.max(1)),
            trusted: HashMap::new(),
            policy,
        }
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.policy.failure_window_secs)
    }

    fn is_trusted(&self, user: &str, addr: IpAddr, now: Instant) -> bool {
        self.trusted
            .get(&(user.to_string(), addr))
            .is_some_and(|t| now.duration_since(*t) < TRUST_FOR)
    }

    /// `Err(retry_after)` when a login attempt for `user` from `addr` must not even be tried.
    pub(super) fn check(&self, addr: IpAddr, user: &str, now: Instant) -> Result<(), Duration> {
        if let Some(wait) = self.addresses.locked(&addr, now) {
            return Err(wait);
        }
        let user = user.to_lowercase();
        match self.users.locked(&user, now) {
            Some(wait) if !self.is_trusted(&user, addr, now) => Err(wait),
            _ => Ok(()),
        }
    }

    /// Reserves an attempt to verify a password for `user` from `addr`, or says how long to
    /// wait: the address or user is locked, or has as many attempts in flight as it may.
    pub(super) fn reserve(
        &mut self,
        addr: IpAddr,
        user: &str,
        now: Instant,
    ) -> Result<Reservation, Duration> {
        let window = self.window();
        let user = user.to_lowercase();
        self.addresses.may_start(&addr, now, window)?;
        let holds_user = !self.is_trusted(&user, addr, now);
        if holds_user {
            self.users.may_start(&user, now, window)?;
            self.users.start(user.clone(), now, window);
        }
        self.addresses.start(addr, now, window);
        Ok(Reservation {
            addr,
            user,
            holds_user,
        })
    }

    /// Ends a reserved attempt; a failure is counted for its address and user.
    pub(super) fn finish(&mut self, reservation: Reservation, outcome: Outcome, now: Instant) {
        self.addresses.finish(&reservation.addr);
        if reservation.holds_user {
            self.users.finish(&reservation.user);
        }
        match outcome {
            Outcome::Failed => self.failure(reservation.addr, &reservation.user, now),
            Outcome::Succeeded => self.success(reservation.addr, &reservation.user, now),
            Outcome::NotChecked => {}
        }
    }

    /// A failure verified for the address and the user.
    pub(super) fn failure(&mut self, addr: IpAddr, user: &str, now: Instant) {
        self.addresses.fail(addr, now, &self.policy);
        self.users.fail(user.to_lowercase(), now, &self.policy);
    }

    /// A failure from `addr` for a guess whose user was counted already (the same guess
    /// sent from another address at the same time was verified once, for both).
    pub(super) fn address_failure(&mut self, addr: IpAddr, now: Instant) {
        self.addresses.fail(addr, now, &self.policy);
    }

    /// A successful login trusts its (user, address) pair; it clears no count (see above).
    pub(super) fn success(&mut self, addr: IpAddr, user: &str, now: Instant) {
        let user = user.to_lowercase();
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
    fn success_clears_no_count() {
        let mut t = Throttle::new(policy());
        let now = Instant::now();
        t.failure(A, "x", now);
        t.failure(A, "y", now);
        t.success(A, "mine", now);
        t.failure(A, "x", now);
        assert!(
            t.check(A, "mine", now).is_err(),
            "three failures lock the address"
        );
        let mut t = Throttle::new(policy());
        for i in 0..4u8 {
            t.failure(
                IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 0, i)),
                "x",
                now,
            );
        }
        t.success(B, "x", now);
        t.failure(
            IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 0, 9)),
            "x",
            now,
        );
        assert!(
            t.check(
                IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 1, 1)),
                "x",
                now
            )
            .is_err(),
            "the user's own login did not reset what the attackers accumulated"
        );
        assert!(
            t.check(B, "x", now).is_ok(),
            "but its own address is trusted"
        );
    }

    /// Reserves as many attempts at once as the throttle allows.
    fn reserve_all(t: &mut Throttle, addr: IpAddr, user: &str, now: Instant) -> Vec<Reservation> {
        std::iter::from_fn(|| t.reserve(addr, user, now).ok())
            .take(1000)
            .collect()
    }

    #[test]
    fn parallel_attempts_are_reserved_only_up_to_the_limit() {
        let mut t = Throttle::new(policy());
        let now = Instant::now();
        // Limit 3 per address: three attempts in flight, the fourth waits a second.
        let first = reserve_all(&mut t, A, "x", now);
        assert_eq!(first.len(), 3);
        assert_eq!(t.reserve(A, "x", now).unwrap_err(), IN_FLIGHT_RETRY);
        assert!(
            t.reserve(B, "x", now).is_ok(),
            "another address has its own budget"
        );
        let mut first = first.into_iter();
        t.finish(first.next().unwrap(), Outcome::Failed, now);
        // Two in flight, one failure: no attempt left until those two end.
        assert!(t.reserve(A, "x", now).is_err());
        t.finish(first.next().unwrap(), Outcome::NotChecked, now);
        let again = t.reserve(A, "x", now).unwrap();
        t.finish(again, Outcome::Failed, now);
        t.finish(first.next().unwrap(), Outcome::Failed, now);
        assert_eq!(t.check(A, "x", now), Err(Duration::from_secs(10)));

        // After the lock, one attempt at a time, as one after the other.
        let later = now + Duration::from_secs(11);
        let after_lock = reserve_all(&mut t, A, "x", later);
        assert_eq!(after_lock.len(), 1);
    }

    #[test]
    fn attempts_in_flight_are_capped_even_with_a_large_budget() {
        let mut t = Throttle::new(AuthConfig {
            max_failures_per_address: 1000,
            max_failures_per_user: 1000,
            ..policy()
        });
        let now = Instant::now();
        assert_eq!(
            reserve_all(&mut t, A, "x", now).len(),
            MAX_IN_FLIGHT as usize
        );
        // A user attacked from many addresses: its attempts in flight are capped too...
        let from_many: Vec<_> = (0..20u8)
            .filter_map(|i| {
                t.reserve(
                    IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 0, i)),
                    "y",
                    now,
                )
                .ok()
            })
            .collect();
        assert_eq!(from_many.len(), MAX_IN_FLIGHT as usize);
        assert!(from_many.iter().all(|r| !r.trusted()));
        // ...except for an address it logged in from before.
        t.success(B, "y", now);
        let trusted = t.reserve(B, "y", now).unwrap();
        assert!(trusted.trusted());
    }
}
