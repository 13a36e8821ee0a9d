//! The capture agent at work: one background task that keeps castd registered with
//! Opencast. It reports the agent's state at once on every change and every `stateSecs`,
//! sends the agent configuration (inputs, time zone) when it changes and every ten minutes,
//! polls the calendar every `pollSecs` (in full every `fullRefreshSecs`) into the schedule,
//! sends the recording-state outbox in order, and says `capturing` again every minute while
//! an Opencast event records. At a clean shutdown it reports `offline`.
//!
//! Nothing waits for this task: the scheduler records from the schedule in SQLite, the
//! outbox is written by the scheduler in its own transactions, and every call here has a
//! timeout. When Opencast is unreachable the task notes it, skips the rest of the round and
//! tries again at the next poll; whatever piled up is sent when Opencast answers again.
//!
//! What the task needs to know of the rest of the box (is it recording, uploading, broken;
//! what are its inputs) comes through [`Host`], which the daemon implements.

mod calendar_sync;
mod reports;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use url::Url;

pub use crate::model::{LinkFailure, LinkStatus, RejectedEvent};

use super::agent::{self, AgentState, RecordingState};
use super::client::{Client, Connection, Error};
use super::config::{AgentConfig, base_url};
use super::link::Link;
use super::registry;
use crate::events::{Bus, Event as BusEvent};
use crate::model::Outcome;
use crate::scheduler::Scheduler;
use crate::store::{self, Store};
use crate::sys::tasks::Tasks;
use crate::sys::time::now_ms;
use calendar_sync::Polled;

/// Each request to Opencast gives up after this long (uploads are the publish queue's).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The configuration is sent again this often though nothing changed (Opencast forgets an
/// agent's configuration when it restarts).
const CONFIGURATION_EVERY_MS: i64 = 600_000;
/// While an Opencast event records, `capturing` is said again this often.
const CAPTURING_EVERY_MS: i64 = 60_000;
/// The service registry is asked again this often (services move between nodes).
const DISCOVERY_EVERY_MS: i64 = 3_600_000;
/// At shutdown, `offline` gets this long: a dead server must not hold up the stop.
const OFFLINE_TIMEOUT: Duration = Duration::from_secs(3);
/// With agent mode off, the task looks at the configuration again this often (a change
/// through the API wakes it at once).
const IDLE_MS: i64 = 60_000;

/// What the box is doing, as the agent state reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Activity {
    /// A lasting fault that keeps the box from recording (a full disk, the template gone,
    /// a failed capture), said as `error`, never `idle` or `capturing`.
    pub blocked: Option<String>,
    pub capturing: bool,
    /// An Opencast ingest is running.
    pub uploading: bool,
    /// Opencast ingests queued or running.
    pub ingest_queue: u64,
}

/// The rest of the box as the agent sees it.
pub(crate) trait Host: Send + Sync + 'static {
    /// What the box is doing now.
    fn activity(&self, config: &AgentConfig) -> impl Future<Output = Activity> + Send;
    /// The inputs Opencast offers when it schedules an event: the recorder nodes of the
    /// template that records Opencast's events.
    fn inputs(&self, template_id: &str) -> impl Future<Output = Vec<String>> + Send;
    /// The unit's IANA time zone.
    fn time_zone(&self) -> String;
}

struct Shared {
    status: Mutex<LinkStatus>,
    wake: Notify,
    /// A full calendar fetch is asked for (castctl or the API's "sync now").
    sync_now: AtomicBool,
    link: Link,
    bus: Bus,
}

/// The handle to the agent task.
#[derive(Clone)]
pub struct Agent {
    shared: Arc<Shared>,
}

impl Agent {
    /// The link as last seen.
    pub fn status(&self) -> LinkStatus {
        self.shared
            .status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Makes the task look again now (the configuration changed, a state was queued).
    pub fn wake(&self) {
        self.shared.wake.notify_one();
    }

    /// Asks for a full calendar fetch, the outbox and the state at once.
    pub fn sync_now(&self) {
        self.shared.sync_now.store(true, Ordering::Relaxed);
        self.wake();
    }

    /// Reports `offline` (a clean shutdown), within [`OFFLINE_TIMEOUT`].
    pub async fn go_offline(&self) {
        let Ok(config) = self.shared.link.config().await else {
            return;
        };
        if !config.enabled || config.backup_mode || config.url.is_empty() {
            return;
        }
        let Some(round) = Round::new(&config) else {
            return;
        };
        let store_endpoints = self.shared.link.stored_endpoints().await;
        let capture_admin = endpoint_of(&config, &store_endpoints, registry::CAPTURE_ADMIN);
        let Some(capture_admin) = capture_admin else {
            return;
        };
        let sent = tokio::time::timeout(
            OFFLINE_TIMEOUT,
            round.client.set_agent_state(
                &capture_admin,
                &config.agent_name,
                AgentState::Offline,
                config.address.as_deref(),
            ),
        )
        .await;
        match sent {
            Ok(Ok(())) => log::info!("told Opencast this agent is offline"),
            Ok(Err(e)) => log::warn!("cannot tell Opencast this agent is offline: {e}"),
            Err(_) => log::warn!("Opencast did not answer the offline state in time"),
        }
    }

    /// Changes the status; a change a person would notice is published on the bus.
    fn update(&self, change: impl FnOnce(&mut LinkStatus)) {
        let changed = {
            let mut status = self
                .shared
                .status
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let before = status.clone();
            change(&mut status);
            (before.summary() != status.summary()).then(|| status.clone())
        };
        if let Some(link) = changed {
            self.shared.bus.publish(BusEvent::OpencastLink { link });
        }
    }

    fn contact(&self, at: i64, during: &str) {
        self.update(|s| {
            s.last_contact = Some(at);
            if s.last_error.as_ref().is_some_and(|e| e.during == during) {
                s.last_error = None;
            }
        });
    }

    fn failure(&self, during: &str, error: &Error) {
        log::warn!("Opencast agent ({during}): {error}");
        let failure = LinkFailure {
            code: error.code().to_string(),
            message: error.to_string(),
            during: during.to_string(),
            at: now_ms(),
        };
        self.update(|s| s.last_error = Some(failure));
    }
}

/// The endpoint of a service: the override, else what discovery found.
fn endpoint_of(
    config: &AgentConfig,
    stored: &[store::opencast::Endpoint],
    service_type: &str,
) -> Option<Url> {
    let overrides = &config.service_overrides;
    let chosen = match service_type {
        registry::CAPTURE_ADMIN => overrides.capture_admin.clone(),
        registry::SCHEDULER => overrides.scheduler.clone(),
        registry::INGEST => overrides.ingest.clone(),
        _ => None,
    };
    chosen
        .or_else(|| {
            stored
                .iter()
                .find(|e| e.service == service_type)
                .map(|e| e.url.clone())
        })
        .and_then(|u| Url::parse(&u).ok())
}

/// What the task keeps between rounds for one configuration.
struct Round {
    config: AgentConfig,
    client: Client,
    discovered_at: Option<i64>,
    state_sent: Option<(AgentState, i64)>,
    configuration_sent: Option<(String, i64)>,
    next_poll: i64,
    capturing_said: i64,
}

impl Round {
    fn new(config: &AgentConfig) -> Option<Round> {
        let url = base_url(&config.url).ok()?;
        let client = Client::new(Connection {
            url,
            auth: config.auth_method(),
            username: config.username.clone(),
            password: config.password.clone(),
            timeout: REQUEST_TIMEOUT,
        })
        .ok()?;
        Some(Round {
            config: config.clone(),
            client,
            discovered_at: None,
            state_sent: None,
            configuration_sent: None,
            next_poll: 0,
            capturing_said: 0,
        })
    }
}

/// Starts the agent task.
pub(crate) fn start<H: Host>(
    store: Store,
    link: Link,
    scheduler: Scheduler,
    host: H,
    bus: Bus,
    tasks: &Tasks,
) -> Agent {
    let agent = Agent {
        shared: Arc::new(Shared {
            status: Mutex::new(LinkStatus::default()),
            wake: Notify::new(),
            sync_now: AtomicBool::new(false),
            link,
            bus: bus.clone(),
        }),
    };
    let task = Task {
        agent: agent.clone(),
        store,
        scheduler,
        host,
    };
    tasks.spawn_finishing(task.run(bus, tasks.clone()));
    agent
}

struct Task<H> {
    agent: Agent,
    store: Store,
    scheduler: Scheduler,
    host: H,
}

impl<H: Host> Task<H> {
    async fn run(self, bus: Bus, tasks: Tasks) {
        let mut events = bus.subscribe();
        let stop = tasks.stopped();
        tokio::pin!(stop);
        let mut round: Option<Round> = None;
        let mut stored_applied = false;
        loop {
            let next = match self.agent.shared.link.config().await {
                Ok(config) if config.enabled && !config.url.is_empty() => {
                    if !stored_applied {
                        stored_applied = true;
                        self.apply_stored(&config).await;
                    }
                    if round.as_ref().is_none_or(|r| r.config != config) {
                        round = Round::new(&config);
                    }
                    match round.as_mut() {
                        Some(r) => self.round(r).await,
                        None => now_ms() + IDLE_MS,
                    }
                }
                Ok(config) => {
                    round = None;
                    self.agent.update(|s| {
                        *s = LinkStatus {
                            agent_name: config.agent_name.clone(),
                            backup_mode: config.backup_mode,
                            ..LinkStatus::default()
                        }
                    });
                    now_ms() + IDLE_MS
                }
                Err(e) => {
                    log::error!("Opencast agent: cannot read its configuration: {e}");
                    now_ms() + IDLE_MS
                }
            };
            let wait = Duration::from_millis((next - now_ms()).max(0) as u64);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.agent.shared.wake.notified() => {}
                () = wait_for_change(&mut events) => {}
                () = &mut stop => return,
            }
        }
    }

    /// The calendar kept from the last fetch goes into the schedule before any network
    /// call, so a box booting while Opencast is unreachable still records it.
    async fn apply_stored(&self, config: &AgentConfig) {
        match calendar_sync::apply_stored(&self.store, &self.scheduler, config, now_ms()).await {
            Ok(Some((stored, applied))) => self.agent.update(|s| {
                s.last_calendar = Some(stored.fetched_at);
                s.last_full_calendar = Some(stored.full_at);
                s.calendar_events = applied.events;
                s.rejected = applied.rejected;
            }),
            Ok(None) => {}
            Err(e) => log::error!("Opencast agent: the stored calendar cannot be applied: {e}"),
        }
    }

    /// One round of talking to Opencast; when the next one is due.
    async fn round(&self, r: &mut Round) -> i64 {
        let now = now_ms();
        let config = r.config.clone();
        let activity = self.host.activity(&config).await;
        self.agent.update(|s| {
            s.enabled = true;
            s.backup_mode = config.backup_mode;
            s.agent_name = config.agent_name.clone();
            s.ingest_queue = activity.ingest_queue;
        });
        let endpoints = self.endpoints(r, now).await;
        let sync_now = self.agent.shared.sync_now.swap(false, Ordering::Relaxed);
        let reachable = if config.backup_mode {
            self.discard_outbox().await;
            true
        } else {
            self.report(r, &endpoints, &activity, now).await
        };
        if reachable && (sync_now || now >= r.next_poll) {
            self.poll(r, &endpoints, sync_now, now).await;
            r.next_poll = now + i64::from(config.poll_secs) * 1000;
        } else if now >= r.next_poll {
            r.next_poll = now + i64::from(config.poll_secs) * 1000;
        }
        if reachable && !config.backup_mode {
            self.drain(r, &endpoints).await;
        }
        let outbox = self
            .store
            .read(store::opencast::outbox_len)
            .await
            .unwrap_or(0);
        self.agent.update(|s| s.outbox = outbox);
        let state_due = r
            .state_sent
            .map_or(now, |(_, at)| at + i64::from(config.state_secs) * 1000);
        let configuration_due = r
            .configuration_sent
            .as_ref()
            .map_or(now, |(_, at)| at + CONFIGURATION_EVERY_MS);
        [
            r.next_poll,
            state_due,
            configuration_due,
            r.capturing_said + CAPTURING_EVERY_MS,
        ]
        .into_iter()
        .min()
        .unwrap_or(now + IDLE_MS)
        .max(now + 1000)
    }
}

/// Returns when the box changed in a way the agent state may follow: a capture started or
/// ended, an upload moved, an alarm came or went.
async fn wait_for_change(
    events: &mut tokio::sync::broadcast::Receiver<Arc<crate::events::Envelope>>,
) {
    loop {
        match events.recv().await {
            Ok(envelope) => {
                if matches!(
                    envelope.event,
                    BusEvent::CaptureState { .. }
                        | BusEvent::PublishJob { .. }
                        | BusEvent::Alarm { .. }
                ) {
                    return;
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// The endpoints a round uses.
struct Endpoints {
    capture_admin: Option<Url>,
    scheduler: Option<Url>,
}

impl<H: Host> Task<H> {
    /// The endpoints to use: overrides, else the registry's (asked again every hour, kept
    /// in SQLite; when the registry cannot be asked, the kept ones).
    async fn endpoints(&self, r: &mut Round, now: i64) -> Endpoints {
        let config = r.config.clone();
        let needs_registry = config.service_overrides.capture_admin.is_none()
            || config.service_overrides.scheduler.is_none()
            || config.service_overrides.ingest.is_none();
        let stale = r
            .discovered_at
            .is_none_or(|at| now - at >= DISCOVERY_EVERY_MS);
        if needs_registry && stale {
            self.discover(r, now).await;
        }
        let stored = self.agent.shared.link.stored_endpoints().await;
        Endpoints {
            capture_admin: endpoint_of(&config, &stored, registry::CAPTURE_ADMIN),
            scheduler: endpoint_of(&config, &stored, registry::SCHEDULER),
        }
    }

    async fn discover(&self, r: &mut Round, now: i64) {
        let mut found = Vec::new();
        for (_, service_type) in super::link::SERVICES {
            match r.client.discover(service_type).await {
                Ok(urls) => {
                    if let Some(url) = urls.first() {
                        found.push((service_type.to_string(), url.to_string()));
                    }
                }
                Err(e) => {
                    self.agent.failure("discovery", &e);
                    // The kept endpoints stay; try again at the next round.
                    return;
                }
            }
        }
        self.agent.contact(now_ms(), "discovery");
        r.discovered_at = Some(now);
        if !found.is_empty() {
            let _ = self
                .store
                .write(move |tx| store::opencast::replace_endpoints(tx, &found))
                .await;
        }
    }

    /// Agent state, configuration and `capturing` again while recording; false when
    /// Opencast could not be reached (the rest of the round is skipped).
    async fn report(
        &self,
        r: &mut Round,
        endpoints: &Endpoints,
        activity: &Activity,
        now: i64,
    ) -> bool {
        let Some(capture_admin) = endpoints.capture_admin.clone() else {
            return true;
        };
        let config = r.config.clone();
        let state = AgentState::of(
            activity.blocked.is_some(),
            activity.capturing,
            activity.uploading,
        );
        let state_due = r.state_sent.is_none_or(|(sent, at)| {
            sent != state || now - at >= i64::from(config.state_secs) * 1000
        });
        if state_due {
            if let Some(why) = &activity.blocked {
                log::warn!("Opencast agent state error: {why}");
            }
            match r
                .client
                .set_agent_state(
                    &capture_admin,
                    &config.agent_name,
                    state,
                    config.address.as_deref(),
                )
                .await
            {
                Ok(()) => {
                    r.state_sent = Some((state, now));
                    self.agent.contact(now_ms(), "state");
                    self.agent
                        .update(|s| s.state = Some(state.as_str().to_string()));
                }
                Err(e) => {
                    self.agent.failure("state", &e);
                    return false;
                }
            }
        }
        let configuration = agent::configuration(
            &self.host.inputs(&config.template_id).await,
            &self.host.time_zone(),
        );
        let configuration_due = r
            .configuration_sent
            .as_ref()
            .is_none_or(|(sent, at)| *sent != configuration || now - at >= CONFIGURATION_EVERY_MS);
        if configuration_due {
            match r
                .client
                .set_agent_configuration(&capture_admin, &config.agent_name, &configuration)
                .await
            {
                Ok(()) => {
                    r.configuration_sent = Some((configuration, now));
                    self.agent.contact(now_ms(), "configuration");
                }
                Err(e) => {
                    self.agent.failure("configuration", &e);
                    return false;
                }
            }
        }
        true
    }

    async fn poll(&self, r: &mut Round, endpoints: &Endpoints, full_asked: bool, now: i64) {
        let Some(scheduler_url) = endpoints.scheduler.clone() else {
            return;
        };
        let config = r.config.clone();
        let last_full = self
            .store
            .read(store::opencast::calendar)
            .await
            .ok()
            .flatten()
            .map(|c| c.full_at);
        let full = full_asked
            || last_full.is_none_or(|at| now - at >= i64::from(config.full_refresh_secs) * 1000);
        let polled = calendar_sync::poll(
            &r.client,
            &scheduler_url,
            &self.store,
            &self.scheduler,
            &config,
            full,
            now,
        )
        .await;
        match polled {
            Ok(Polled::Unchanged) => {
                self.agent.contact(now_ms(), "calendar");
                self.agent.update(|s| s.last_calendar = Some(now));
            }
            Ok(Polled::Applied(applied)) => {
                self.agent.contact(now_ms(), "calendar");
                if applied.changes > 0 {
                    log::info!(
                        "Opencast calendar: {} change(s) to the schedule",
                        applied.changes
                    );
                }
                self.agent.update(|s| {
                    s.last_calendar = Some(now);
                    if full {
                        s.last_full_calendar = Some(now);
                    }
                    s.calendar_events = applied.events;
                    s.rejected = applied.rejected;
                });
            }
            Err(e) => self.agent.failure("calendar", &e),
        }
    }

    /// The outbox, then `capturing` again for Opencast events that record (only once the
    /// outbox is empty, so it never overtakes an older state).
    async fn drain(&self, r: &mut Round, endpoints: &Endpoints) {
        let Some(capture_admin) = endpoints.capture_admin.clone() else {
            return;
        };
        match reports::drain_outbox(&r.client, &capture_admin, &self.store).await {
            Ok(sent) => {
                if sent > 0 {
                    self.agent.contact(now_ms(), "recordingState");
                }
            }
            Err(e) => {
                self.agent.failure("recordingState", &e);
                return;
            }
        }
        let now = now_ms();
        if now - r.capturing_said < CAPTURING_EVERY_MS {
            return;
        }
        r.capturing_said = now;
        let Ok(events) = self.scheduler.opencast_events().await else {
            return;
        };
        for event in events.iter().filter(|e| e.outcome == Outcome::Recording) {
            let Some(link) = &event.opencast else {
                continue;
            };
            if let Err(e) = r
                .client
                .set_recording_state(&capture_admin, &link.uid, RecordingState::Capturing)
                .await
            {
                self.agent.failure("recordingState", &e);
                return;
            }
        }
    }

    /// In backup mode nothing is reported: queued states are dropped.
    async fn discard_outbox(&self) {
        let _ = self
            .store
            .write(|tx| {
                for item in store::opencast::outbox(tx, 100_000)? {
                    store::opencast::sent(tx, item.seq)?;
                }
                Ok::<_, store::StoreError>(())
            })
            .await;
    }
}
