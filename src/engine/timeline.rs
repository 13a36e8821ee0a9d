//! Recorded time: how long a session has been recording, pauses left out.

use std::time::{Duration, Instant};

/// The recording clock of one session.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    recorded: Duration,
    running_since: Option<Instant>,
    paused_since: Option<Instant>,
    paused: Duration,
}

impl Timeline {
    /// A timeline recording since `at`.
    pub fn running(at: Instant) -> Timeline {
        Timeline {
            recorded: Duration::ZERO,
            running_since: Some(at),
            paused_since: None,
            paused: Duration::ZERO,
        }
    }

    /// Recorded time up to `now`.
    pub fn elapsed(&self, now: Instant) -> Duration {
        self.recorded
            + self
                .running_since
                .map_or(Duration::ZERO, |s| now.saturating_duration_since(s))
    }

    /// Paused time up to `now`.
    pub fn paused(&self, now: Instant) -> Duration {
        self.paused
            + self
                .paused_since
                .map_or(Duration::ZERO, |s| now.saturating_duration_since(s))
    }

    pub fn is_running(&self) -> bool {
        self.running_since.is_some()
    }

    pub fn pause(&mut self, at: Instant) {
        if let Some(since) = self.running_since.take() {
            self.recorded += at.saturating_duration_since(since);
            self.paused_since = Some(at);
        }
    }

    pub fn resume(&mut self, at: Instant) {
        if let Some(since) = self.paused_since.take() {
            self.paused += at.saturating_duration_since(since);
            self.running_since = Some(at);
        }
    }

    /// Freezes the clock at `at`.
    pub fn stop(&mut self, at: Instant) {
        self.pause(at);
        self.resume(at);
        self.running_since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_are_left_out() {
        let t0 = Instant::now();
        let s = |ms| t0 + Duration::from_millis(ms);
        let mut t = Timeline::running(t0);
        assert_eq!(t.elapsed(s(1000)), Duration::from_millis(1000));
        t.pause(s(1000));
        assert_eq!(t.elapsed(s(5000)), Duration::from_millis(1000));
        assert_eq!(t.paused(s(5000)), Duration::from_millis(4000));
        t.resume(s(5000));
        t.pause(s(5000));
        t.resume(s(6000));
        assert_eq!(t.elapsed(s(8000)), Duration::from_millis(3000));
        assert_eq!(t.paused(s(8000)), Duration::from_millis(5000));
        t.stop(s(9000));
        assert_eq!(t.elapsed(s(20000)), Duration::from_millis(4000));
        assert!(!t.is_running());
    }
}
