//! The upload bandwidth limit: one pacing clock shared by every upload, so the limit holds
//! for the unit as a whole however many jobs run. Bodies are sent in small chunks, each
//! released at its turn; with no limit a chunk goes at once.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::live::Live;

/// Bytes per chunk of a paced body: small enough for smooth pacing, big enough that the
/// per-chunk cost does not matter.
const CHUNK: usize = 64 * 1024;

/// Where the limit comes from (kilobits per second, 0 for none): read at every chunk, so
/// a changed setting applies to uploads already under way.
pub(crate) type LimitSource = Arc<dyn Fn() -> u64 + Send + Sync>;

#[derive(Clone)]
pub(crate) struct Throttle {
    limit_kbps: LimitSource,
    /// When the next byte may go.
    next_free: Arc<Mutex<Option<Instant>>>,
}

impl Throttle {
    pub(crate) fn new(limit_kbps: LimitSource) -> Throttle {
        Throttle {
            limit_kbps,
            next_free: Arc::default(),
        }
    }

    pub(crate) fn bytes_per_second(&self) -> u64 {
        (self.limit_kbps)().saturating_mul(1000) / 8
    }

    /// Waits until `n` bytes may be sent.
    pub(crate) async fn admit(&self, n: usize) {
        let rate = self.bytes_per_second();
        if rate == 0 {
            return;
        }
        let cost = Duration::from_secs_f64(n as f64 / rate as f64);
        let start = {
            let mut next = self
                .next_free
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            // Idle time is not saved up: a limit means no bursts after a pause either.
            let start = next.filter(|t| *t > now).unwrap_or(now);
            *next = Some(start + cost);
            start
        };
        tokio::time::sleep_until(start).await;
    }

    /// A streaming request body of `bytes`, paced by the limit; it ends with an error
    /// when the job is cancelled so the request stops at once.
    pub(crate) fn body(&self, bytes: Bytes, live: Arc<Live>) -> reqwest::Body {
        let throttle = self.clone();
        let stream = futures_util::stream::unfold(
            (bytes, throttle, live),
            |(mut rest, throttle, live)| async move {
                if rest.is_empty() {
                    return None;
                }
                if live.cancelled.load(Ordering::Relaxed) {
                    let err = std::io::Error::new(std::io::ErrorKind::Interrupted, "cancelled");
                    return Some((Err(err), (Bytes::new(), throttle, live)));
                }
                let chunk = rest.split_to(rest.len().min(CHUNK));
                throttle.admit(chunk.len()).await;
                Some((Ok::<_, std::io::Error>(chunk), (rest, throttle, live)))
            },
        );
        reqwest::Body::wrap_stream(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_limit_paces_chunks_and_no_limit_does_not_wait() {
        let limit = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let source = limit.clone();
        let throttle = Throttle::new(Arc::new(move || source.load(Ordering::Relaxed)));
        let start = Instant::now();
        throttle.admit(1_000_000).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        limit.store(8_000, Ordering::Relaxed); // 1 MB/s
        for _ in 0..4 {
            throttle.admit(250_000).await;
        }
        // The first quarter goes at once; the fourth waits for three quarters of a second.
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(749) && waited < Duration::from_millis(800),
            "{waited:?}"
        );
    }
}
