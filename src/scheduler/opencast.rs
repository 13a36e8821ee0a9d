//! The schedule's side of Opencast's events (capture-agent mode): they are stored as
//! ordinary events, so the timer loop records them exactly as it records local ones, but
//! they carry their Opencast link ([`OpencastEvent`]), only Opencast's calendar changes them
//! (the API answers 409 `schedule.owned_by_opencast`), and each change of their outcome
//! queues the recording state Opencast expects in the same transaction, so a state is never
//! lost to a crash or a network cut.
//!
//! Overlaps: an Opencast event is stored even where it overlaps a local event, because
//! refusing it would silently lose a lecture Opencast counts on; the other way round, a
//! local event that overlaps an Opencast one is refused as any overlap is. When two do
//! overlap (a local event booked before Opencast scheduled the room), the one that starts
//! first holds the room and the other waits for it within its window, as the timer loop
//! does for any busy room.

use rusqlite::Connection;

use super::book::{self, Rules, ScheduleError};
use super::{Follow, Scheduler};
use crate::model::{Event, EventId, OpencastEvent, Outcome};
use crate::store;

/// The id castd stores an Opencast event under: derived from its UID, so the same Opencast
/// event always lands on the same castd event, whatever characters the UID holds.
pub(crate) fn event_id(uid: &str) -> EventId {
    let hash = blake3::hash(uid.as_bytes()).to_hex();
    EventId::from(format!("ev-oc-{}", &hash.as_str()[..20]))
}

/// What Opencast says of one of its events, as the schedule stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Slot {
    pub title: String,
    pub template_id: String,
    pub start_time: i64,
    pub stop_time: i64,
    pub link: OpencastEvent,
}

/// The recording state Opencast expects when an Opencast event's outcome goes from
/// `before` to the event's: `capturing` when it starts (and again when castd resumes it
/// after a restart), `capture_finished` when it ended with a recording (whole or in part:
/// what was recorded is ingested), `capture_error` when it could not record at all.
pub(crate) fn recording_state(before: Outcome, after: &Event) -> Option<&'static str> {
    after.opencast.as_ref()?;
    match (before, after.outcome) {
        (Outcome::Pending | Outcome::Recording, Outcome::Recording) => Some("capturing"),
        (Outcome::Recording, Outcome::Completed | Outcome::Partial) => Some("capture_finished"),
        (Outcome::Pending, Outcome::Partial) if after.media_package_id.is_some() => {
            Some("capture_finished")
        }
        (Outcome::Pending | Outcome::Recording, Outcome::Failed | Outcome::Missed)
        | (Outcome::Pending, Outcome::Partial) => Some("capture_error"),
        _ => None,
    }
}

/// Queues the recording state an outcome change calls for (in the caller's transaction).
pub(crate) fn queue_recording_state(
    conn: &Connection,
    before: Outcome,
    after: &Event,
) -> Result<(), store::StoreError> {
    if let (Some(state), Some(link)) = (recording_state(before, after), &after.opencast) {
        store::opencast::push_recording_state(conn, &link.uid, state)?;
    }
    Ok(())
}

/// Writes an Opencast event: a new one, or a change to one not started yet. The template
/// must exist (the rules check it); overlaps with local events are allowed (module docs).
fn put(conn: &Connection, slot: Slot, rules: &Rules) -> Result<Event, ScheduleError> {
    let id = event_id(&slot.link.uid);
    let mut event = match store::schedule::get_event(conn, &id)? {
        Some(old) if old.outcome != Outcome::Pending => return Ok(old),
        Some(old) => old,
        None => serde_json::from_value(serde_json::json!({
            "startTime": slot.start_time,
            "stopTime": slot.stop_time,
        }))
        .map_err(|e| book::invalid_event(e.to_string()))?,
    };
    event.id = id.into_string();
    event.title = slot.title;
    event.template_id = slot.template_id;
    event.start_time = slot.start_time;
    event.stop_time = slot.stop_time;
    event.opencast = Some(slot.link);
    book::check_opencast_event(conn, &mut event, rules)?;
    store::schedule::put_event(conn, &event)?;
    Ok(event)
}

impl Scheduler {
    /// The events that came from Opencast's calendar, with their progress.
    pub(crate) async fn opencast_events(&self) -> Result<Vec<Event>, ScheduleError> {
        Ok(self.store.read(store::schedule::opencast_events).await?)
    }

    /// Adds an Opencast event, or changes one that has not started.
    pub(crate) async fn put_opencast_event(&self, slot: Slot) -> Result<Event, ScheduleError> {
        let rules = self.rules();
        let event = self.store.write(move |tx| put(tx, slot, &rules)).await?;
        self.changed.notify_one();
        Ok(event)
    }

    /// Moves the end of an Opencast event that is recording (Opencast moved its DTEND);
    /// the running capture follows.
    pub(crate) async fn move_opencast_end(
        &self,
        uid: &str,
        end_ms: i64,
    ) -> Result<(), ScheduleError> {
        let id = event_id(uid);
        let now = crate::sys::time::now_ms();
        let key = id.clone();
        let follow = self
            .store
            .write(move |tx| {
                let Some(mut event) = store::schedule::get_event(tx, &key)? else {
                    return Ok(Follow::Nothing);
                };
                event.stop_time = end_ms.max(now);
                store::schedule::put_event(tx, &event)?;
                Ok::<_, ScheduleError>(if event.outcome == Outcome::Recording {
                    Follow::MoveStop(event.stop_time)
                } else {
                    Follow::Nothing
                })
            })
            .await?;
        if let Follow::MoveStop(at) = follow
            && let Some(session) = self.session_of(&id)
        {
            self.engine.stop_at(Some(session), at).await?;
        }
        self.changed.notify_one();
        Ok(())
    }

    /// Removes an Opencast event that has not started (Opencast deleted or unassigned it).
    pub(crate) async fn remove_opencast_event(&self, uid: &str) -> Result<(), ScheduleError> {
        let id = event_id(uid);
        self.store
            .write(move |tx| {
                match store::schedule::get_event(tx, &id)? {
                    Some(e) if e.outcome == Outcome::Pending => {
                        store::schedule::delete_event(tx, &id)?;
                    }
                    _ => {}
                }
                Ok::<_, ScheduleError>(())
            })
            .await?;
        self.changed.notify_one();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(outcome: Outcome, package: bool) -> Event {
        let mut e: Event = serde_json::from_value(serde_json::json!({
            "id": "ev-oc-1", "templateID": "lecture", "startTime": 0, "stopTime": 60_000
        }))
        .unwrap();
        e.outcome = outcome;
        e.media_package_id = package.then(|| "pkg".to_string());
        e.opencast = Some(OpencastEvent {
            uid: "uid-1".into(),
            ..OpencastEvent::default()
        });
        e
    }

    #[test]
    fn each_outcome_change_gives_the_recording_state_opencast_expects() {
        use Outcome::*;
        let cases = [
            (Pending, Recording, false, Some("capturing")),
            (Recording, Recording, true, Some("capturing")),
            (Recording, Completed, true, Some("capture_finished")),
            (Recording, Partial, true, Some("capture_finished")),
            (Pending, Partial, true, Some("capture_finished")),
            (Pending, Partial, false, Some("capture_error")),
            (Pending, Failed, false, Some("capture_error")),
            (Pending, Missed, false, Some("capture_error")),
            (Recording, Failed, true, Some("capture_error")),
            (Pending, Pending, false, None),
            (Completed, Completed, true, None),
        ];
        for (before, after, package, want) in cases {
            assert_eq!(
                recording_state(before, &event(after, package)),
                want,
                "{before:?} → {after:?}"
            );
        }
        let mut local = event(Recording, false);
        local.opencast = None;
        assert_eq!(
            recording_state(Pending, &local),
            None,
            "local events send none"
        );
    }

    #[test]
    fn the_same_uid_always_lands_on_the_same_valid_event_id() {
        let a = event_id("68b19d11-6aca-4c4e-9d6c-0e4d3f1b2a7c");
        assert_eq!(a, event_id("68b19d11-6aca-4c4e-9d6c-0e4d3f1b2a7c"));
        assert_ne!(a, event_id("31295"));
        assert!(book::is_schedule_id(&a, "ev-"), "{a}");
        assert!(book::is_schedule_id(&event_id("Ä b/c"), "ev-"));
    }
}
