//! From Opencast's calendar to castd's schedule: what to add, change and remove, decided
//! by UID against what castd holds from the last calendar.
//!
//! The rules, in order of what matters most: a recording under way is never cut short by a
//! calendar (an event that disappears or starts later while it records keeps recording to
//! its planned end; a moved end applies, since Opencast moves it on purpose); an event is
//! never recorded twice (recordings are keyed by UID and start, so one that already ran is
//! not added again when it is still in the calendar); events that have ended are not
//! added. Deciding changes nothing: the caller applies them to the schedule.

use std::collections::{BTreeMap, BTreeSet};

use super::calendar::{AgentProperties, Calendar, CalendarEvent};

/// What castd holds of one Opencast event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub uid: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub title: String,
    pub inputs: Option<BTreeSet<String>>,
    pub workflow: Option<String>,
    pub workflow_config: BTreeMap<String, String>,
    /// Its capture has started (it is recording or has recorded).
    pub started: bool,
    /// Its capture has ended.
    pub completed: bool,
}

impl Held {
    pub fn from_event(event: &CalendarEvent) -> Held {
        let AgentProperties {
            inputs,
            workflow,
            workflow_config,
            ..
        } = event.properties.clone();
        Held {
            uid: event.uid.clone(),
            start_ms: event.start_ms,
            end_ms: event.end_ms,
            title: event.title.clone(),
            inputs,
            workflow,
            workflow_config,
            started: false,
            completed: false,
        }
    }

    fn running(&self) -> bool {
        self.started && !self.completed
    }
}

/// One change to the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new event to record.
    Add(Held),
    /// An event not yet started whose time, title, inputs or workflow changed.
    Update(Held),
    /// A recording under way whose end moved (the new end; nothing else of it changes).
    MoveEnd { uid: String, end_ms: i64 },
    /// An event that has not started and is no longer in the calendar.
    Remove { uid: String },
    /// A recording under way that is no longer in the calendar (or now starts later): it
    /// records to its planned end, and the caller logs it.
    KeepRecording { uid: String },
}

/// The changes that turn `held` into what `calendar` says at `now_ms`.
pub fn changes(held: &[Held], calendar: &Calendar, now_ms: i64) -> Vec<Change> {
    let by_uid: BTreeMap<&str, &Held> = held.iter().map(|h| (h.uid.as_str(), h)).collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for event in &calendar.events {
        seen.insert(event.uid.as_str());
        let fresh = Held::from_event(event);
        match by_uid.get(event.uid.as_str()) {
            None if event.end_ms > now_ms => out.push(Change::Add(fresh)),
            None => {}
            Some(old) if old.completed => {}
            Some(old) if old.running() => {
                if fresh.start_ms > now_ms {
                    // Moved to later while it records: this recording goes on; the
                    // later one is the same UID, which Opencast cannot take twice.
                    out.push(Change::KeepRecording {
                        uid: old.uid.clone(),
                    });
                } else if fresh.end_ms != old.end_ms {
                    out.push(Change::MoveEnd {
                        uid: old.uid.clone(),
                        end_ms: fresh.end_ms.max(now_ms),
                    });
                }
            }
            Some(old) => {
                let same = old.start_ms == fresh.start_ms
                    && old.end_ms == fresh.end_ms
                    && old.title == fresh.title
                    && old.inputs == fresh.inputs
                    && old.workflow == fresh.workflow
                    && old.workflow_config == fresh.workflow_config;
                if !same {
                    out.push(Change::Update(fresh));
                }
            }
        }
    }
    for old in held {
        if seen.contains(old.uid.as_str()) || old.completed {
            continue;
        }
        if old.running() {
            out.push(Change::KeepRecording {
                uid: old.uid.clone(),
            });
        } else {
            out.push(Change::Remove {
                uid: old.uid.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const NOW: i64 = 1_740_992_400_000;

    fn event(uid: &str, start: i64, end: i64) -> CalendarEvent {
        CalendarEvent {
            uid: uid.into(),
            start_ms: start,
            end_ms: end,
            title: format!("Lecture {uid}"),
            description: None,
            location: Some("castd-room101".into()),
            series: None,
            last_modified_ms: None,
            properties: AgentProperties::default(),
            attachments: Vec::new(),
        }
    }

    fn calendar(events: Vec<CalendarEvent>) -> Calendar {
        Calendar {
            events,
            rejected: Vec::new(),
        }
    }

    fn held(uid: &str, start: i64, end: i64, started: bool, completed: bool) -> Held {
        Held {
            started,
            completed,
            ..Held::from_event(&event(uid, start, end))
        }
    }

    #[test]
    fn new_events_are_added_unless_they_have_ended() {
        let cal = calendar(vec![
            event("later", NOW + 60 * MIN, NOW + 120 * MIN),
            event("running", NOW - 10 * MIN, NOW + 50 * MIN),
            event("ended", NOW - 50 * MIN, NOW - 5 * MIN),
        ]);
        let out = changes(&[], &cal, NOW);
        let added: Vec<&str> = out
            .iter()
            .map(|c| match c {
                Change::Add(h) => h.uid.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            added,
            ["later", "running"],
            "an event under way starts at once"
        );
    }

    #[test]
    fn an_unchanged_calendar_changes_nothing() {
        let e = event("a", NOW + 60 * MIN, NOW + 120 * MIN);
        let held = [Held::from_event(&e)];
        assert_eq!(changes(&held, &calendar(vec![e]), NOW), []);
    }

    #[test]
    fn a_pending_event_follows_every_change() {
        let mut e = event("a", NOW + 60 * MIN, NOW + 120 * MIN);
        let held = [Held::from_event(&e)];
        e.start_ms += 15 * MIN;
        e.properties.inputs = Some(["screen".to_string()].into());
        let out = changes(&held, &calendar(vec![e.clone()]), NOW);
        assert_eq!(out, [Change::Update(Held::from_event(&e))]);
        let mut retitled = event("a", NOW + 60 * MIN, NOW + 120 * MIN);
        retitled.title = "Renamed".into();
        assert!(matches!(
            changes(&held, &calendar(vec![retitled]), NOW)[..],
            [Change::Update(_)]
        ));
    }

    #[test]
    fn a_recording_under_way_takes_a_moved_end_and_nothing_else() {
        let held = [held("a", NOW - 10 * MIN, NOW + 50 * MIN, true, false)];
        let mut e = event("a", NOW - 10 * MIN, NOW + 80 * MIN);
        e.title = "Renamed while recording".into();
        assert_eq!(
            changes(&held, &calendar(vec![e]), NOW),
            [Change::MoveEnd {
                uid: "a".into(),
                end_ms: NOW + 80 * MIN
            }]
        );
        // An end moved into the past ends it now, not before.
        let shortened = event("a", NOW - 10 * MIN, NOW - 5 * MIN);
        assert_eq!(
            changes(&held, &calendar(vec![shortened]), NOW),
            [Change::MoveEnd {
                uid: "a".into(),
                end_ms: NOW
            }]
        );
    }

    #[test]
    fn a_recording_under_way_is_never_cut_by_the_calendar() {
        let held = [held("a", NOW - 10 * MIN, NOW + 50 * MIN, true, false)];
        assert_eq!(
            changes(&held, &calendar(vec![]), NOW),
            [Change::KeepRecording { uid: "a".into() }],
            "deleted in Opencast"
        );
        let later = event("a", NOW + 60 * MIN, NOW + 120 * MIN);
        assert_eq!(
            changes(&held, &calendar(vec![later]), NOW),
            [Change::KeepRecording { uid: "a".into() }],
            "moved to later"
        );
    }

    #[test]
    fn pending_events_gone_from_the_calendar_are_removed_and_finished_ones_left_alone() {
        let held = [
            held("pending", NOW + 60 * MIN, NOW + 120 * MIN, false, false),
            held("done", NOW - 60 * MIN, NOW - 10 * MIN, true, true),
        ];
        assert_eq!(
            changes(&held, &calendar(vec![]), NOW),
            [Change::Remove {
                uid: "pending".into()
            }]
        );
    }

    #[test]
    fn an_event_that_was_recorded_is_never_added_again() {
        let held = [held("done", NOW - 60 * MIN, NOW - 10 * MIN, true, true)];
        let mut again = event("done", NOW - 60 * MIN, NOW + 30 * MIN);
        again.title = "Extended after it ended".into();
        assert_eq!(changes(&held, &calendar(vec![again]), NOW), []);
    }
}
