//! What the schedule asks for at a given instant: which events start, which were missed
//! or failed, and when to look again. Pure, so it is tested with any clock.

use std::collections::HashSet;

use crate::model::{Event, Outcome};

/// One thing to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Start the event's capture now, for what is left of its window.
    Start(String),
    /// Its window passed while castd was not running.
    Miss(String),
    /// Its window passed while another capture kept it from starting.
    FailBusy(String),
    /// Its capture ended while castd was not running to see it end: settle its outcome.
    Settle(String),
}

/// The steps due at `now`, and the next instant something becomes due.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Due {
    pub steps: Vec<Step>,
    pub wake_at: Option<i64>,
}

/// `events`: pending and recording events. `running`: events with a live capture.
/// `busy`: another capture runs and concurrent captures are off. `waited`: events that
/// became due while busy.
pub(crate) fn due(
    events: &[Event],
    now: i64,
    running: &HashSet<String>,
    busy: bool,
    waited: &HashSet<String>,
) -> Due {
    let mut out = Due::default();
    let wake = |at: i64, out: &mut Due| out.wake_at = Some(out.wake_at.map_or(at, |w| w.min(at)));
    for e in events {
        if running.contains(&e.id) {
            continue;
        }
        match e.outcome {
            Outcome::Pending if now >= e.stop_time => out.steps.push(if waited.contains(&e.id) {
                Step::FailBusy(e.id.clone())
            } else {
                Step::Miss(e.id.clone())
            }),
            // Never early: only once the start time has come.
            Outcome::Pending if now >= e.start_time => {
                if busy {
                    // Wait for the other capture to end (a state event wakes the loop), but
                    // give up at the event's end.
                    wake(e.stop_time, &mut out);
                } else {
                    out.steps.push(Step::Start(e.id.clone()));
                }
            }
            Outcome::Pending => wake(e.start_time, &mut out),
            // Recording without a live capture: castd restarted inside (or after) the window.
            Outcome::Recording if now < e.stop_time && !busy => {
                out.steps.push(Step::Start(e.id.clone()))
            }
            Outcome::Recording if now < e.stop_time => wake(e.stop_time, &mut out),
            Outcome::Recording => out.steps.push(Step::Settle(e.id.clone())),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, start: i64, stop: i64, outcome: Outcome) -> Event {
        serde_json::from_value(serde_json::json!({
            "id": id, "templateID": "lecture", "startTime": start, "stopTime": stop, "outcome": outcome
        }))
        .unwrap()
    }

    fn none() -> HashSet<String> {
        HashSet::new()
    }

    #[test]
    fn events_start_exactly_at_their_start_not_a_millisecond_before() {
        let events = [
            event("a", 1000, 2000, Outcome::Pending),
            event("b", 5000, 6000, Outcome::Pending),
        ];
        let before = due(&events, 999, &none(), false, &none());
        assert!(before.steps.is_empty());
        assert_eq!(before.wake_at, Some(1000));
        let at = due(&events, 1000, &none(), false, &none());
        assert_eq!(at.steps, vec![Step::Start("a".into())]);
        assert_eq!(at.wake_at, Some(5000));
        let running = HashSet::from(["a".to_string()]);
        assert!(due(&events, 1500, &running, true, &none()).steps.is_empty());
    }

    #[test]
    fn busy_events_wait_until_their_end_then_fail_and_unseen_ones_are_missed() {
        let events = [event("a", 1000, 2000, Outcome::Pending)];
        let waiting = due(&events, 1200, &none(), true, &none());
        assert!(waiting.steps.is_empty());
        assert_eq!(waiting.wake_at, Some(2000));
        let waited = HashSet::from(["a".to_string()]);
        assert_eq!(
            due(&events, 2000, &none(), true, &waited).steps,
            vec![Step::FailBusy("a".into())]
        );
        assert_eq!(
            due(&events, 2500, &none(), false, &none()).steps,
            vec![Step::Miss("a".into())]
        );
    }

    #[test]
    fn a_restart_inside_the_window_resumes_and_after_it_settles() {
        let events = [event("a", 1000, 9000, Outcome::Recording)];
        assert_eq!(
            due(&events, 4000, &none(), false, &none()).steps,
            vec![Step::Start("a".into())]
        );
        assert_eq!(
            due(&events, 9500, &none(), false, &none()).steps,
            vec![Step::Settle("a".into())]
        );
        let pending_late = [event("b", 1000, 9000, Outcome::Pending)];
        assert_eq!(
            due(&pending_late, 4000, &none(), false, &none()).steps,
            vec![Step::Start("b".into())]
        );
    }
}
