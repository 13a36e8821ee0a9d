//! The calendar's way into the schedule: fetched with an absolute cutoff and the ETag sent
//! back exactly, kept durably before anything is decided from it, read, and turned into
//! changes of the Opencast events the schedule holds ([`crate::opencast::sync`] decides;
//! this applies).
//!
//! The stored calendar is applied once at start, before any network call, so a box that
//! boots while Opencast is unreachable records what it last heard of.

use crate::model::{Event, Outcome};
use crate::opencast::calendar::{self, Calendar};
use crate::opencast::client::{Client, Error, Fetched};
use crate::opencast::config::AgentConfig;
use crate::opencast::sync::{self, Change, Held};
use crate::scheduler::Scheduler;
use crate::scheduler::book::fit_title;
use crate::scheduler::opencast::Slot;
use crate::store::opencast::StoredCalendar;
use crate::store::{self, Store};

use crate::model::RejectedEvent;

const DAY_MS: i64 = 86_400_000;

/// What applying a calendar did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Applied {
    /// Events still to record or recording.
    pub events: u64,
    pub rejected: Vec<RejectedEvent>,
    pub changes: usize,
}

/// What castd holds of an Opencast event, for the sync's decisions.
fn held(event: &Event) -> Option<Held> {
    let link = event.opencast.as_ref()?;
    Some(Held {
        uid: link.uid.clone(),
        start_ms: event.start_time,
        end_ms: event.stop_time,
        title: event.title.clone(),
        inputs: link.inputs.clone(),
        workflow: link.workflow.clone(),
        workflow_config: link.workflow_config.clone(),
        started: event.started,
        completed: event.completed
            || matches!(
                event.outcome,
                Outcome::Completed | Outcome::Partial | Outcome::Missed | Outcome::Failed
            ),
    })
}

fn slot(h: Held, template_id: &str) -> Slot {
    Slot {
        title: h.title,
        template_id: template_id.to_string(),
        start_time: h.start_ms,
        stop_time: h.end_ms,
        link: crate::model::OpencastEvent {
            uid: h.uid,
            workflow: h.workflow,
            workflow_config: h.workflow_config,
            inputs: h.inputs,
        },
    }
}

/// Applies a calendar to the schedule at `now`.
pub(super) async fn apply(
    scheduler: &Scheduler,
    calendar: &Calendar,
    config: &AgentConfig,
    now: i64,
) -> Result<Applied, String> {
    let mut calendar = calendar.clone();
    // Titles are compared as the schedule keeps them, so a long one is not "changed" at
    // every poll.
    for event in &mut calendar.events {
        event.title = fit_title(&event.title);
    }
    let stored = scheduler
        .opencast_events()
        .await
        .map_err(|e| e.to_string())?;
    let held: Vec<Held> = stored.iter().filter_map(held).collect();
    let changes = sync::changes(&held, &calendar, now);
    let mut applied = Applied {
        events: calendar.to_record(now).len() as u64,
        changes: changes.len(),
        rejected: calendar
            .rejected
            .iter()
            .map(|r| RejectedEvent {
                uid: r.uid.clone(),
                reason: r.reason.clone(),
            })
            .collect(),
    };
    for change in changes {
        let (uid, result) = match change {
            Change::Add(h) | Change::Update(h) => {
                let uid = h.uid.clone();
                let result = scheduler
                    .put_opencast_event(slot(h, &config.template_id))
                    .await
                    .map(drop);
                (uid, result)
            }
            Change::MoveEnd { uid, end_ms } => {
                let result = scheduler.move_opencast_end(&uid, end_ms).await;
                (uid, result)
            }
            Change::Remove { uid } => {
                let result = scheduler.remove_opencast_event(&uid).await;
                (uid, result)
            }
            Change::KeepRecording { uid } => {
                log::warn!(
                    "Opencast event {uid} left the calendar (or moved later) while it records: \
                     it records to its planned end"
                );
                continue;
            }
        };
        if let Err(e) = result {
            log::error!("cannot schedule Opencast event {uid}: {e}");
            applied.rejected.push(RejectedEvent {
                uid,
                reason: e.to_string(),
            });
        }
    }
    Ok(applied)
}

/// Applies the calendar kept from the last fetch, if any (no network).
pub(super) async fn apply_stored(
    store: &Store,
    scheduler: &Scheduler,
    config: &AgentConfig,
    now: i64,
) -> Result<Option<(StoredCalendar, Applied)>, String> {
    let Some(stored) = store
        .read(store::opencast::calendar)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let calendar = calendar::parse(&stored.body)?;
    let applied = apply(scheduler, &calendar, config, now).await?;
    Ok(Some((stored, applied)))
}

/// What one poll brought.
pub(super) enum Polled {
    /// 304: nothing changed since the ETag sent.
    Unchanged,
    /// A new calendar, stored and applied.
    Applied(Applied),
}

/// Fetches the calendar (in full when `full`, else with the stored ETag), stores it and
/// applies it.
pub(super) async fn poll(
    client: &Client,
    scheduler_url: &url::Url,
    store: &Store,
    scheduler: &Scheduler,
    config: &AgentConfig,
    full: bool,
    now: i64,
) -> Result<Polled, Error> {
    let previous = store.read(store::opencast::calendar).await.ok().flatten();
    let etag = previous
        .as_ref()
        .filter(|_| !full)
        .and_then(|c| c.etag.clone());
    let cutoff = now + i64::from(config.lookahead_days) * DAY_MS;
    match client
        .calendar(scheduler_url, &config.agent_name, cutoff, etag.as_deref())
        .await?
    {
        Fetched::NotModified => {
            let _ = store
                .write(move |tx| store::opencast::calendar_unchanged(tx, now))
                .await;
            Ok(Polled::Unchanged)
        }
        Fetched::Calendar { etag, body } => {
            let calendar = calendar::parse(&body).map_err(Error::Invalid)?;
            let full_at = if full {
                now
            } else {
                previous.as_ref().map_or(now, |c| c.full_at)
            };
            let stored = StoredCalendar {
                etag,
                body,
                fetched_at: now,
                full_at,
            };
            store
                .write(move |tx| store::opencast::put_calendar(tx, &stored))
                .await
                .map_err(|e| Error::Invalid(format!("cannot keep the calendar: {e}")))?;
            let applied = apply(scheduler, &calendar, config, now)
                .await
                .map_err(Error::Invalid)?;
            Ok(Polled::Applied(applied))
        }
    }
}
