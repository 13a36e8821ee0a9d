//! The schedule: events and recurring groups in SQLite, the timer loop that records them,
//! iCalendar export and import, and the clock-synchronisation watch.
//!
//! [`Scheduler`] is the handle the API uses; changes go through [`book`] (the rules) in one
//! transaction each and then wake the [`runner`].

pub(crate) mod book;
pub(crate) mod due;
pub(crate) mod fetch;
pub(crate) mod ical;
pub(crate) mod import;
pub(crate) mod opencast;
pub(crate) mod recurrence;
pub(crate) mod runner;
pub(crate) mod timer;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::{Map, Value};
use tokio::sync::Notify;

use book::Follow;
pub(crate) use book::{Rules, ScheduleError};
use runner::{Captures, Runner, SessionState, SystemClock};

use crate::engine::{CaptureError, Engine, Origin};
use crate::events::{Bus, Event as BusEvent};
use crate::model::{
    AlarmCode, AlarmLevel, CaptureRequest, CaptureState, Event, EventGroup, ImportReport,
};
use crate::settings::Settings;
use crate::store::{self, Store};
use crate::sys::tasks::Tasks;

/// How often the clock's synchronisation is looked at.
const CLOCK_CHECK: Duration = Duration::from_secs(60);
/// Largest calendar accepted, as text or fetched.
pub(crate) const MAX_CALENDAR_BYTES: usize = 4 * 1024 * 1024;

/// Filters of `getEvents`.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub template: Option<String>,
    pub group: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// Cheap, cloneable handle to the schedule.
#[derive(Clone)]
pub struct Scheduler {
    store: Store,
    settings: Settings,
    engine: Engine,
    changed: Arc<Notify>,
    tasks: Tasks,
}

impl Scheduler {
    /// Starts the timer loop, the capture-state listener and the clock watch.
    pub fn start(
        store: Store,
        settings: Settings,
        engine: Engine,
        bus: Bus,
        tasks: Tasks,
    ) -> std::io::Result<Scheduler> {
        let changed = Arc::new(Notify::new());
        let ended = Arc::new(Mutex::new(HashMap::new()));
        tasks.spawn_finishing(listen(
            bus.clone(),
            changed.clone(),
            ended.clone(),
            tasks.stopped(),
        ));
        tasks.spawn_finishing(watch_clock(bus, tasks.stopped()));
        let runner = Runner {
            store: store.clone(),
            clock: SystemClock::new()?,
            captures: EngineCaptures {
                engine: engine.clone(),
                settings: settings.clone(),
                ended,
            },
            changed: changed.clone(),
        };
        tasks.spawn_finishing(runner.run(tasks.clone()));
        Ok(Scheduler {
            store,
            settings,
            engine,
            changed,
            tasks,
        })
    }

    /// Stops the timer loop (before the engine shuts down, so an interrupted recording
    /// stays `recording` and is resumed at the next start).
    pub fn shutdown(&self) {
        self.tasks.stop();
    }

    fn rules(&self) -> Rules {
        Rules {
            now: crate::sys::time::now_ms(),
            concurrent: self.settings.concurrent_captures(),
            timezone: self.settings.timezone(),
            default_template: self.settings.default_template(),
        }
    }

    pub async fn create_event(&self, event: Event) -> Result<Event, ScheduleError> {
        let rules = self.rules();
        let created = self
            .store
            .write(move |tx| book::create_event(tx, event, &rules))
            .await?;
        self.changed.notify_one();
        Ok(created)
    }

    /// Changes the fields named in `patch`; a recording event's capture follows a moved
    /// stop time.
    pub async fn update_event(
        &self,
        id: &str,
        patch: Map<String, Value>,
    ) -> Result<Event, ScheduleError> {
        let rules = self.rules();
        let key = id.to_string();
        let (event, follow) = self
            .store
            .write(move |tx| book::update_event(tx, &key, &patch, &rules))
            .await?;
        if let Follow::MoveStop(at) = follow
            && let Some(session) = self.session_of(id)
        {
            self.engine.stop_at(Some(session), at).await?;
        }
        self.changed.notify_one();
        Ok(event)
    }

    pub async fn get_event(&self, id: &str) -> Result<Event, ScheduleError> {
        let key = id.to_string();
        self.store
            .read(move |c| store::schedule::get_event(c, &key))
            .await?
            .ok_or_else(|| ScheduleError::NotFound(id.into()))
    }

    /// Events by start time; with the total that match.
    pub async fn list_events(
        &self,
        filter: EventFilter,
    ) -> Result<(Vec<Event>, i64), ScheduleError> {
        Ok(self
            .store
            .read(move |c| {
                store::schedule::list_events(
                    c,
                    filter.start,
                    filter.end,
                    filter.template.as_deref(),
                    filter.group.as_deref(),
                    filter.limit,
                    filter.offset,
                )
            })
            .await?)
    }

    /// The active capture session recording `event_id`.
    fn session_of(&self, event_id: &str) -> Option<String> {
        self.engine
            .statuses()
            .into_iter()
            .find(|s| s.event_id.as_deref() == Some(event_id) && s.state.is_active())
            .and_then(|s| s.session_id)
    }

    /// Stops the captures of these events, if they run.
    async fn stop_captures(&self, event_ids: &[String]) -> Result<(), ScheduleError> {
        for id in event_ids {
            if let Some(session) = self.session_of(id) {
                log::info!("stopping the capture of deleted event {id}");
                match self.engine.stop(Some(session)).await {
                    Ok(_) | Err(CaptureError::Idle | CaptureError::NotCapturing(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    /// Deletes an event; a running capture of it is stopped first (its media package stays).
    pub async fn delete_event(&self, id: &str) -> Result<(), ScheduleError> {
        book::refuse_if_opencast(&self.get_event(id).await?)?;
        self.stop_captures(&[id.to_string()]).await?;
        let key = id.to_string();
        if !self
            .store
            .write(move |tx| store::schedule::delete_event(tx, &key))
            .await?
        {
            return Err(ScheduleError::NotFound(id.into()));
        }
        self.changed.notify_one();
        Ok(())
    }

    pub async fn create_group(&self, group: EventGroup) -> Result<EventGroup, ScheduleError> {
        let rules = self.rules();
        let created = self
            .store
            .write(move |tx| book::create_group(tx, group, &rules))
            .await?;
        self.changed.notify_one();
        Ok(created)
    }

    pub async fn update_group(
        &self,
        id: &str,
        patch: Map<String, Value>,
    ) -> Result<EventGroup, ScheduleError> {
        let rules = self.rules();
        let key = id.to_string();
        let updated = self
            .store
            .write(move |tx| book::update_group(tx, &key, &patch, &rules))
            .await?;
        self.changed.notify_one();
        Ok(updated)
    }

    pub async fn list_groups(&self) -> Result<Vec<EventGroup>, ScheduleError> {
        self.store.read(book::list_groups).await
    }

    pub async fn get_group(&self, id: &str) -> Result<EventGroup, ScheduleError> {
        let key = id.to_string();
        self.store.read(move |c| book::get_group(c, &key)).await
    }

    /// Deletes a group and all its events (a running one is stopped first).
    pub async fn delete_group(&self, id: &str) -> Result<(), ScheduleError> {
        let group = self.get_group(id).await?;
        let ids: Vec<String> = group.events.iter().map(|e| e.id.clone()).collect();
        self.stop_captures(&ids).await?;
        let key = id.to_string();
        if !self
            .store
            .write(move |tx| store::schedule::delete_group(tx, &key))
            .await?
        {
            return Err(ScheduleError::GroupNotFound(id.into()));
        }
        self.changed.notify_one();
        Ok(())
    }

    /// Today's events, midnight to midnight in the unit's time zone.
    pub async fn today(&self) -> Result<Vec<Event>, ScheduleError> {
        let (start, end) = day_bounds(crate::sys::time::now_ms(), &self.settings.timezone());
        let filter = EventFilter {
            start: Some(start),
            end: Some(end),
            limit: 1000,
            ..EventFilter::default()
        };
        Ok(self.list_events(filter).await?.0)
    }

    /// Every event as an iCalendar document.
    pub async fn export(&self) -> Result<String, ScheduleError> {
        let events = self
            .store
            .read(|c| store::schedule::list_events(c, None, None, None, None, i64::MAX, 0))
            .await?
            .0;
        Ok(ical::export(
            &events,
            &self.settings.unit_name(),
            crate::sys::time::now_ms(),
        ))
    }

    /// Imports an iCalendar document: all of it that can be, in one transaction.
    pub async fn import(&self, ics: &str) -> Result<ImportReport, ScheduleError> {
        let rules = self.rules();
        let (entries, rejected) =
            ical::parse(ics, &rules.timezone).map_err(ScheduleError::Calendar)?;
        let report = self
            .store
            .write(move |tx| import::import(tx, entries, rejected, &rules))
            .await?;
        self.changed.notify_one();
        Ok(report)
    }

    /// Fetches a calendar (http, https or webcal URL) and imports it.
    pub async fn import_url(&self, url: &str) -> Result<ImportReport, ScheduleError> {
        let url = fetch::check_url(url).map_err(|reason| ScheduleError::Invalid {
            field: "url".into(),
            reason,
        })?;
        let allowance = crate::http_client::destination::Allowance::parse(
            &self.settings.calendar_import_allowed_hosts(),
        );
        let text = fetch::calendar(url, MAX_CALENDAR_BYTES, &allowance)
            .await
            .map_err(ScheduleError::Fetch)?;
        self.import(&text).await
    }
}

/// [`day_bounds`]: local midnight to the next local midnight around `now`, as UTC ms.
#[expect(
    clippy::expect_used,
    reason = "invariant: midnight exists as a naive time"
)]
pub(crate) fn day_bounds(now: i64, timezone: &str) -> (i64, i64) {
    let tz: chrono_tz::Tz = timezone.parse().unwrap_or(chrono_tz::UTC);
    let local = Utc
        .timestamp_millis_opt(now)
        .single()
        .unwrap_or_default()
        .with_timezone(&tz);
    let midnight = |date: chrono::NaiveDate| {
        let naive = date
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists as a naive time");
        // Where midnight is skipped by a DST change, the day starts at the first valid time.
        tz.from_local_datetime(&naive)
            .earliest()
            .or_else(|| {
                tz.from_local_datetime(&(naive + chrono::Duration::hours(1)))
                    .earliest()
            })
            .map_or(now, |t| t.timestamp_millis())
    };
    let today = local.date_naive();
    let tomorrow = today.succ_opt().unwrap_or(today);
    (midnight(today), midnight(tomorrow))
}

/// The capture engine as the timer loop sees it.
struct EngineCaptures {
    engine: Engine,
    settings: Settings,
    /// Sessions that ended, with their error, as the bus told (ahead of the engine's view).
    ended: Arc<Mutex<HashMap<String, Option<String>>>>,
}

impl Captures for EngineCaptures {
    async fn start(&self, event: &Event) -> Result<String, CaptureError> {
        let request = CaptureRequest {
            title: Some(event.title.clone()),
            template_id: Some(event.template_id.clone()),
            // The speaker as the event took it when it was booked.
            speaker: event.speaker.clone(),
            speaker_info: event.speaker_info.clone(),
            tags: event.tags.clone(),
            assets: event.assets.clone(),
            publishing: event.publishing,
            publishing_redundant_copies: event.publishing_redundant_copies,
            publishing_speaker_files: event.publishing_speaker_files,
            publishing_speaker_information: event.publishing_speaker_information,
            publishing_table_of_contents: event.publishing_table_of_contents,
            ..CaptureRequest::default()
        };
        let origin = Origin {
            event_id: Some(event.id.clone()),
            stop_at: Some(event.stop_time),
            ..Origin::default()
        };
        let status = self.engine.start_capture(request, origin).await?;
        // Every started session has an id; an answer without one is an engine fault.
        status.session_id.ok_or(CaptureError::Gone)
    }

    async fn stop(&self, session: &str) {
        if let Err(e) = self.engine.stop(Some(session.to_string())).await {
            log::warn!("cannot stop capture {session}: {e}");
        }
    }

    fn session(&self, id: &str) -> Option<SessionState> {
        let ended = self
            .ended
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id);
        if let Some(error) = ended {
            return Some(SessionState {
                active: false,
                error,
            });
        }
        let status = self
            .engine
            .statuses()
            .into_iter()
            .find(|s| s.session_id.as_deref() == Some(id))?;
        Some(SessionState {
            active: status.state.is_active(),
            error: status.error.filter(|_| status.state == CaptureState::Error),
        })
    }

    fn busy(&self) -> bool {
        !self.settings.concurrent_captures()
            && self.engine.statuses().iter().any(|s| s.state.is_active())
    }

    fn prefer(&self, template: Option<String>) {
        self.engine.prefer_template(template);
    }
}

/// Wakes the timer loop on capture state changes, and notes sessions that ended.
async fn listen(
    bus: Bus,
    changed: Arc<Notify>,
    ended: Arc<Mutex<HashMap<String, Option<String>>>>,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut rx = bus.subscribe();
    loop {
        let envelope = tokio::select! {
            got = rx.recv() => got,
            () = &mut stop => return,
        };
        match envelope {
            Ok(envelope) => {
                if let BusEvent::CaptureState {
                    session_id,
                    state,
                    error,
                    ..
                } = &envelope.event
                {
                    if !state.is_active() {
                        let mut ended = ended
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        // Only the first end counts (processing, then idle, follow).
                        ended.entry(session_id.clone()).or_insert_with(|| {
                            error.clone().filter(|_| *state == CaptureState::Error)
                        });
                        // Bounded: sessions nobody asked about are forgotten.
                        if ended.len() > 256 {
                            ended.clear();
                        }
                    }
                    changed.notify_one();
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => changed.notify_one(),
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Raises an alarm when the clock is not synchronised (scheduled recordings would start at
/// the wrong time), and says when it is again.
async fn watch_clock(bus: Bus, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut was_synced = true;
    loop {
        let synced = crate::sys::unit::clock_synchronized();
        if synced != was_synced {
            if synced {
                log::info!("the system clock is synchronised again");
            } else {
                log::warn!(
                    "the system clock is not synchronised; scheduled recordings may start at the wrong time"
                );
                bus.publish(BusEvent::Alarm {
                    code: AlarmCode::ClockUnsynchronized,
                    level: AlarmLevel::Warning,
                    message: "the system clock is not synchronised; scheduled recordings may start at the wrong time"
                        .into(),
                });
            }
            was_synced = synced;
        }
        tokio::select! {
            () = tokio::time::sleep(CLOCK_CHECK) => {}
            () = &mut stop => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_midnight_to_midnight_in_the_unit_zone_even_on_dst_days() {
        let tz = chrono_tz::Europe::Berlin;
        let noon = tz
            .with_ymd_and_hms(2026, 3, 29, 12, 0, 0)
            .unwrap()
            .timestamp_millis();
        let (start, end) = day_bounds(noon, "Europe/Berlin");
        assert_eq!(
            start,
            tz.with_ymd_and_hms(2026, 3, 29, 0, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        assert_eq!(
            end - start,
            23 * 3_600_000,
            "the day summer time starts has 23 hours"
        );
        let (start, end) = day_bounds(noon, "UTC");
        assert_eq!(end - start, 24 * 3_600_000);
        assert!(start <= noon && noon < end);
    }
}
