//! The book of open connections: how many are open in all and from each address, and
//! which of them are only waiting for a request.
//!
//! A new connection beyond the per-address cap is refused. A new connection beyond the total
//! cap takes the place of the connection that has waited longest for a request head (a
//! slow-header attacker's, or a client's idle kept-alive one, which reconnects at no cost);
//! only when every open connection is in the middle of a request is it refused. So
//! connections that never finish their headers, from however many addresses, can neither
//! exhaust file descriptors nor lock real clients out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The address already holds `limit` connections.
    Address { limit: usize },
    /// `limit` connections are open and every one is busy with a request.
    Total { limit: usize },
}

/// Caps on open connections, shared by the accept loop and every connection.
#[derive(Clone)]
pub struct Limits {
    book: Arc<Mutex<Book>>,
    max_total: usize,
    max_per_address: usize,
    /// Times are kept as milliseconds since this instant, so they fit in atomics.
    origin: Instant,
}

#[derive(Default)]
struct Book {
    next_id: u64,
    open: HashMap<u64, Arc<Conn>>,
    per_address: HashMap<IpAddr, usize>,
}

/// What the book knows of one open connection; the connection updates it as it goes.
pub struct Conn {
    id: u64,
    address: IpAddr,
    origin: Instant,
    /// Requests whose handler is still working on the answer.
    handling: AtomicUsize,
    /// Requests whose answer has not been sent completely (an event stream stays here).
    answering: AtomicUsize,
    /// Last time a byte was read or written, or a handler finished (ms since `origin`).
    last_progress: AtomicU64,
    /// Since when no request is in progress (ms since `origin`).
    waiting_since: AtomicU64,
    /// When the head of the next request began to arrive (ms since `origin`), or
    /// [`NO_HEAD`] while none is under way.
    head_since: AtomicU64,
    evicted: Notify,
}

/// `head_since` while no request head is under way.
const NO_HEAD: u64 = u64::MAX;

impl Limits {
    pub fn new(max_total: usize, max_per_address: usize) -> Limits {
        Limits {
            book: Arc::default(),
            max_total,
            max_per_address,
            origin: Instant::now(),
        }
    }

    /// Takes a place for a new connection from `ip`, or says why there is none.
    pub fn admit(&self, ip: IpAddr) -> Result<Slot, Refusal> {
        let address = address_key(ip);
        let mut book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        let from_address = book.per_address.get(&address).copied().unwrap_or(0);
        if from_address >= self.max_per_address {
            return Err(Refusal::Address {
                limit: self.max_per_address,
            });
        }
        if book.open.len() >= self.max_total {
            // The full book is scanned only when it is full: at most `max_total` entries.
            let victim = book
                .open
                .values()
                .filter(|c| c.is_waiting())
                .min_by_key(|c| (c.waiting_since.load(Ordering::Relaxed), c.id))
                .cloned();
            let Some(victim) = victim else {
                return Err(Refusal::Total {
                    limit: self.max_total,
                });
            };
            book.remove(victim.id);
            // A stored permit: the victim closes even if its task has not started yet.
            victim.evicted.notify_one();
        }
        let id = book.next_id;
        book.next_id += 1;
        let now = self.now_ms();
        let conn = Arc::new(Conn {
            id,
            address,
            origin: self.origin,
            handling: AtomicUsize::new(0),
            answering: AtomicUsize::new(0),
            last_progress: AtomicU64::new(now),
            waiting_since: AtomicU64::new(now),
            // A new connection owes its first head from the moment it is accepted.
            head_since: AtomicU64::new(now),
            evicted: Notify::new(),
        });
        book.open.insert(id, conn.clone());
        *book.per_address.entry(address).or_default() += 1;
        Ok(Slot {
            conn,
            book: self.book.clone(),
        })
    }

    /// Connections open now, in all.
    pub fn open(&self) -> usize {
        self.book
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open
            .len()
    }

    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }
}

impl Book {
    /// Forgets a connection; a second call for the same one does nothing.
    fn remove(&mut self, id: u64) {
        if let Some(conn) = self.open.remove(&id)
            && let Some(n) = self.per_address.get_mut(&conn.address)
        {
            *n -= 1;
            if *n == 0 {
                self.per_address.remove(&conn.address);
            }
        }
    }
}

/// IPv6 clients are counted by their /64: one host usually holds a whole /64 and could
/// otherwise open the per-address cap from each of its addresses. IPv4 addresses mapped into
/// IPv6 count as the IPv4 address.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// A connection's place in the book, given back when the connection ends.
pub struct Slot {
    conn: Arc<Conn>,
    book: Arc<Mutex<Book>>,
}

impl Slot {
    pub fn conn(&self) -> &Arc<Conn> {
        &self.conn
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.book
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(self.conn.id);
    }
}

impl Conn {
    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    fn is_waiting(&self) -> bool {
        self.answering.load(Ordering::Relaxed) == 0
    }

    /// A byte was written.
    pub fn progressed(&self) {
        self.last_progress.store(self.now_ms(), Ordering::Relaxed);
    }

    /// A byte was read: progress, and, between requests, the start of the next head.
    pub fn received(&self) {
        let now = self.now_ms();
        self.last_progress.store(now, Ordering::Relaxed);
        if self.is_waiting() {
            let _ = self.head_since.compare_exchange(
                NO_HEAD,
                now,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    /// When the request head under way must be complete; `None` while no head is under way
    /// (a kept-alive connection between requests is bounded by the idle timeout instead).
    pub fn head_deadline(&self, limit: Duration) -> Option<Instant> {
        if !self.is_waiting() {
            return None;
        }
        match self.head_since.load(Ordering::Relaxed) {
            NO_HEAD => None,
            since => Some(self.origin + Duration::from_millis(since) + limit),
        }
    }

    /// Resolves when the book gave this connection's place to a newer one.
    pub async fn evicted(&self) {
        self.evicted.notified().await;
    }

    /// When the connection has been quiet for `limit`, counting only time in which no
    /// handler is working (a slow handler is bounded by the request timeout instead).
    /// `None`: a handler is working now.
    pub fn quiet_deadline(&self, limit: Duration) -> Option<Instant> {
        if self.handling.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let last = Duration::from_millis(self.last_progress.load(Ordering::Relaxed));
        Some(self.origin + last + limit)
    }

    /// A request's head was read and its handler starts.
    pub fn request_started(self: &Arc<Self>) -> InRequest {
        self.handling.fetch_add(1, Ordering::Relaxed);
        self.answering.fetch_add(1, Ordering::Relaxed);
        self.head_since.store(NO_HEAD, Ordering::Relaxed);
        InRequest {
            conn: self.clone(),
            handling: true,
        }
    }
}

/// One request from its head to the last byte of its answer.
pub struct InRequest {
    conn: Arc<Conn>,
    handling: bool,
}

impl InRequest {
    /// The handler has produced the answer; its body may still be streaming.
    pub fn handled(&mut self) {
        if std::mem::take(&mut self.handling) {
            self.conn.handling.fetch_sub(1, Ordering::Relaxed);
            self.conn.progressed();
        }
    }
}

impl Drop for InRequest {
    fn drop(&mut self) {
        self.handled();
        let now = self.conn.now_ms();
        if self.conn.answering.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.conn.waiting_since.store(now, Ordering::Relaxed);
        }
        self.conn.last_progress.store(now, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_per_address_cap_refuses_and_a_closed_connection_frees_its_place() {
        let limits = Limits::new(10, 2);
        let a = limits.admit(ip("10.0.0.1")).unwrap();
        let _b = limits.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(
            limits.admit(ip("10.0.0.1")).err(),
            Some(Refusal::Address { limit: 2 })
        );
        // Another address is not affected.
        let _c = limits.admit(ip("10.0.0.2")).unwrap();
        drop(a);
        assert!(limits.admit(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let limits = Limits::new(10, 1);
        let _a = limits.admit(ip("2001:db8:1:2::1")).unwrap();
        assert!(limits.admit(ip("2001:db8:1:2:ffff::9")).is_err());
        assert!(limits.admit(ip("2001:db8:1:3::1")).is_ok());
        let _v4 = limits.admit(ip("192.0.2.7")).unwrap();
        assert!(limits.admit(ip("::ffff:192.0.2.7")).is_err());
    }

    #[tokio::test]
    async fn at_the_total_cap_the_longest_waiting_connection_makes_room() {
        let limits = Limits::new(3, 10);
        let first = limits.admit(ip("10.0.0.1")).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let busy = limits.admit(ip("10.0.0.2")).unwrap();
        let _request = busy.conn().request_started();
        let third = limits.admit(ip("10.0.0.3")).unwrap();
        assert_eq!(limits.open(), 3);

        let _fourth = limits.admit(ip("10.0.0.4")).unwrap();
        assert_eq!(limits.open(), 3);
        // The oldest waiting one was told to close; the busy one was spared.
        tokio::time::timeout(Duration::from_secs(5), first.conn().evicted())
            .await
            .expect("the oldest waiting connection is evicted");
        // Its slot given back later changes nothing.
        drop(first);
        assert_eq!(limits.open(), 3);

        let _fifth = limits.admit(ip("10.0.0.5")).unwrap();
        tokio::time::timeout(Duration::from_secs(5), third.conn().evicted())
            .await
            .expect("the next waiting one goes next");
    }

    #[test]
    fn when_every_connection_is_busy_the_new_one_is_refused() {
        let limits = Limits::new(1, 10);
        let only = limits.admit(ip("10.0.0.1")).unwrap();
        let mut request = only.conn().request_started();
        assert_eq!(
            limits.admit(ip("10.0.0.2")).err(),
            Some(Refusal::Total { limit: 1 })
        );
        // Still answering (a stream): busy even after the handler is done.
        request.handled();
        assert!(limits.admit(ip("10.0.0.2")).is_err());
        drop(request);
        assert!(limits.admit(ip("10.0.0.2")).is_ok());
    }

    #[test]
    fn a_head_is_timed_from_the_accept_then_from_its_first_byte_between_requests() {
        let limits = Limits::new(1, 1);
        let slot = limits.admit(ip("10.0.0.1")).unwrap();
        let conn = slot.conn();
        let limit = Duration::from_secs(10);
        // A new connection owes its first head at once.
        let first = conn
            .head_deadline(limit)
            .expect("a new connection has a deadline");
        assert!(first <= Instant::now() + limit);
        // While a request is answered there is no head to wait for, nor afterwards until
        // the client starts the next one: a kept-alive connection may sit idle.
        let request = conn.request_started();
        conn.received();
        assert_eq!(conn.head_deadline(limit), None);
        drop(request);
        assert_eq!(conn.head_deadline(limit), None);
        std::thread::sleep(Duration::from_millis(5));
        conn.received();
        let next = conn.head_deadline(limit).expect("the next head is timed");
        assert!(next > first);
        // More bytes of the same head do not push the deadline back.
        std::thread::sleep(Duration::from_millis(5));
        conn.received();
        assert_eq!(conn.head_deadline(limit), Some(next));
    }

    #[test]
    fn quiet_time_does_not_count_while_a_handler_works() {
        let limits = Limits::new(1, 1);
        let slot = limits.admit(ip("10.0.0.1")).unwrap();
        let limit = Duration::from_secs(60);
        assert!(slot.conn().quiet_deadline(limit).is_some());
        let mut request = slot.conn().request_started();
        assert_eq!(slot.conn().quiet_deadline(limit), None);
        request.handled();
        assert!(slot.conn().quiet_deadline(limit).is_some());
    }
}
