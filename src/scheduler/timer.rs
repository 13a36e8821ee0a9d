//! Waking at a wall-clock instant: a `CLOCK_REALTIME` timerfd set to an absolute time, so the
//! kernel wakes castd exactly then (not a polling loop), and cancelled when the clock is set
//! (NTP step, manual change) so the schedule is looked at again.

use std::os::fd::{AsFd as _, AsRawFd, RawFd};

use nix::errno::Errno;
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// Why a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The instant was reached.
    Due,
    /// The wall clock was set; due times must be looked at again.
    ClockChanged,
}

pub(crate) struct WallTimer {
    fd: AsyncFd<Fd>,
}

impl WallTimer {
    pub(crate) fn new() -> std::io::Result<WallTimer> {
        let fd = TimerFd::new(
            ClockId::CLOCK_REALTIME,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .map_err(std::io::Error::from)?;
        // SAFETY: `Fd` owns the timerfd and always returns the same descriptor; it stays
        // open until the `AsyncFd` holding it is dropped.
        let fd = unsafe { AsyncFd::register_with_interest(Fd(fd), Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(WallTimer { fd })
    }

    /// Waits until the wall clock reaches `at_ms` (ms since the epoch).
    pub(crate) async fn wait_until(&self, at_ms: i64) -> std::io::Result<Wake> {
        let at_ms = at_ms.max(1);
        let when = TimeSpec::new(at_ms / 1000, (at_ms % 1000) * 1_000_000);
        self.fd
            .get_ref()
            .0
            .set(
                Expiration::OneShot(when),
                TimerSetTimeFlags::TFD_TIMER_ABSTIME | TimerSetTimeFlags::TFD_TIMER_CANCEL_ON_SET,
            )
            .map_err(std::io::Error::from)?;
        loop {
            let mut guard = self.fd.readable().await?;
            let mut buf = [0u8; 8];
            match nix::unistd::read(guard.get_inner().0.as_fd(), &mut buf) {
                Ok(_) => return Ok(Wake::Due),
                Err(Errno::ECANCELED) => return Ok(Wake::ClockChanged),
                Err(Errno::EAGAIN) => guard.clear_ready(),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn it_wakes_at_the_wall_clock_instant_not_before() {
        let timer = WallTimer::new().unwrap();
        let at = crate::sys::time::now_ms() + 150;
        assert_eq!(timer.wait_until(at).await.unwrap(), Wake::Due);
        let now = crate::sys::time::now_ms();
        assert!(now >= at, "woke {} ms early", at - now);
        // A time in the past is due at once.
        assert_eq!(timer.wait_until(at - 10_000).await.unwrap(), Wake::Due);
    }
}
