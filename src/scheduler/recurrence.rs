//! Expanding a group's RFC 5545 recurrence rule into occurrence start times.
//!
//! The rule is expanded in the group's own time zone, so a lecture at 10:00 stays at 10:00
//! local time when daylight saving time starts or ends (its UTC time moves instead).

use chrono::{TimeZone, Utc};
use rrule::RRuleSet;

/// How far ahead an open-ended rule is expanded.
pub(crate) const HORIZON_MS: i64 = 400 * 24 * 3600 * 1000;
/// At most this many occurrences per group.
pub(crate) const MAX_OCCURRENCES: u16 = 1000;

/// Start times (ms) of the occurrences of `rule` from `start` in `timezone`, leaving out
/// `exceptions`, up to the horizon.
pub(crate) fn occurrences(
    rule: &str,
    start: i64,
    timezone: &str,
    exceptions: &[i64],
) -> Result<Vec<i64>, String> {
    let tz: chrono_tz::Tz = timezone
        .parse()
        .map_err(|_| format!("unknown IANA time zone {timezone:?}"))?;
    let rule = rule.trim().trim_start_matches("RRULE:");
    // RFC 5545 rule values are ASCII; the rrule crate slices them by bytes and panics on
    // other text.
    if rule.is_empty()
        || !rule.is_ascii()
        || rule.contains(['\n', '\r'])
        || rule.to_uppercase().contains("DTSTART")
    {
        return Err("rrule must be one RRULE value such as FREQ=WEEKLY;BYDAY=TU;COUNT=14".into());
    }
    let first = Utc
        .timestamp_millis_opt(start)
        .single()
        .ok_or("startTime is out of range")?
        .with_timezone(&tz);
    let text = format!(
        "DTSTART;TZID={}:{}\nRRULE:{rule}",
        tz.name(),
        first.format("%Y%m%dT%H%M%S")
    );
    let horizon = Utc
        .timestamp_millis_opt(start.saturating_add(HORIZON_MS))
        .single()
        .ok_or("startTime is out of range")?
        .with_timezone(&rrule::Tz::Tz(tz));
    // The rule is client text handed to a third-party parser: a panic in it must be a
    // refused rule, not a failed request.
    let expanded = std::panic::catch_unwind(|| {
        let set: RRuleSet = text.parse().map_err(|e| format!("invalid rrule: {e}"))?;
        Ok::<_, String>(set.before(horizon).all(MAX_OCCURRENCES))
    });
    let result = expanded.map_err(|_| "invalid rrule: it cannot be expanded".to_string())??;
    Ok(result
        .dates
        .iter()
        .map(|d| d.timestamp_millis())
        .filter(|ms| !exceptions.contains(ms))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike};

    fn ms(tz: chrono_tz::Tz, y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
        tz.with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .timestamp_millis()
    }

    fn local(tz: chrono_tz::Tz, at: i64) -> (u32, u32, u32) {
        let t = Utc.timestamp_millis_opt(at).unwrap().with_timezone(&tz);
        (t.day(), t.hour(), t.minute())
    }

    #[test]
    fn rules_with_other_than_ascii_text_are_refused_not_a_panic() {
        let start = ms(chrono_tz::Europe::Berlin, 2027, 1, 5, 10, 0);
        for rule in [
            "FREQ=WEEKLY;BYDAY=\u{FFFD}\u{FFFD};COUNT=8",
            "FREQ=WEEKLY;BYDAY=€",
        ] {
            assert!(
                occurrences(rule, start, "Europe/Berlin", &[]).is_err(),
                "{rule}"
            );
        }
    }

    #[test]
    fn a_weekly_lecture_keeps_its_local_time_across_dst_in_berlin() {
        let tz = chrono_tz::Europe::Berlin;
        // Tuesdays at 10:00 from 17 March 2026; summer time starts on 29 March.
        let start = ms(tz, 2026, 3, 17, 10, 0);
        let got = occurrences("FREQ=WEEKLY;BYDAY=TU;COUNT=4", start, "Europe/Berlin", &[]).unwrap();
        assert_eq!(got.len(), 4);
        for at in &got {
            assert_eq!(local(tz, *at).1, 10, "10:00 local every week");
        }
        let utc_hour = |at: i64| Utc.timestamp_millis_opt(at).unwrap().hour();
        assert_eq!(
            (utc_hour(got[1]), utc_hour(got[2])),
            (9, 8),
            "UTC moves an hour instead"
        );
        assert_eq!(got[2] - got[1], 7 * 24 * 3600 * 1000 - 3600 * 1000);
    }

    #[test]
    fn new_york_falls_back_in_november_and_exceptions_are_left_out() {
        let tz = chrono_tz::America::New_York;
        let start = ms(tz, 2026, 10, 26, 14, 30);
        let all = occurrences(
            "FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20261112T000000Z",
            start,
            "America/New_York",
            &[],
        )
        .unwrap();
        assert_eq!(all.len(), 6, "Oct 26, 28, Nov 2, 4, 9, 11: {all:?}");
        assert!(
            all.iter()
                .all(|at| local(tz, *at).1 == 14 && local(tz, *at).2 == 30)
        );
        let skipped = occurrences(
            "FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20261112T000000Z",
            start,
            "America/New_York",
            &[all[2]],
        )
        .unwrap();
        assert_eq!(skipped.len(), 5);
        assert!(!skipped.contains(&all[2]));
    }

    #[test]
    fn open_ended_rules_stop_at_the_horizon_and_bad_rules_are_refused() {
        let start = ms(chrono_tz::UTC, 2026, 1, 5, 9, 0);
        let daily = occurrences("FREQ=DAILY", start, "UTC", &[]).unwrap();
        assert!(daily.len() <= 401 && daily.len() >= 399, "{}", daily.len());
        assert!(occurrences("FREQ=SOMETIMES", start, "UTC", &[]).is_err());
        assert!(occurrences("FREQ=DAILY\nDTSTART:20200101T000000Z", start, "UTC", &[]).is_err());
        assert!(occurrences("FREQ=DAILY", start, "Mars/Base", &[]).is_err());
    }
}
