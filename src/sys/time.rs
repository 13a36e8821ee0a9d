//! The wall clock in the unit every persisted time uses: milliseconds since the Unix epoch.
//!
//! One definition, read by the store, the engine, the scheduler and the API alike; it
//! never sleeps, never waits for the clock to be synchronised (the status reports that)
//! and never panics when the clock is set before 1970.

/// Milliseconds since the Unix epoch, the unit of every persisted time.
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_reads_milliseconds_of_this_century() {
        // 2020-01-01 and 2100-01-01: seconds or microseconds would fall outside.
        let now = now_ms();
        assert!(
            (1_577_836_800_000..4_102_444_800_000).contains(&now),
            "{now}"
        );
    }
}
