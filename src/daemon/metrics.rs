//! The figures castd reports about itself: the Prometheus exposition of `GET /metrics`, and
//! the per-second live figures of a running session on the event bus (`nodeStats`,
//! `levels`).
//!
//! Counters that only the HTTP layer sees (requests, failed logins) live here for the whole
//! run; everything else is read from the daemon's parts at scrape time ([`Scrape`]), so a
//! scrape shows the state of that instant and nothing is kept for sessions that are gone.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::engine::Engine;
use crate::events::{Bus, Event};
use crate::model::{CaptureState, DiskSpace, JobState};
use crate::opencast::runner::LinkStatus;
use crate::store::Store;
use crate::sys::tasks::Tasks;

/// What a scrape reads besides the run-long counters.
pub(crate) struct Scrape<'a> {
    pub store: &'a Store,
    pub engine: &'a Engine,
    pub disk: DiskSpace,
    pub password_verifications: u64,
    pub uptime: Duration,
    /// The Opencast capture agent's link.
    pub opencast: LinkStatus,
}

/// Content type of the Prometheus text exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How often the live figures of a running session are published.
const LIVE_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route pattern without prefix (`/capture/mediaPackages/{id}`), or `unmatched`.
    route: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SessionLabels {
    session: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    session: String,
    node: String,
}

/// The Opencast agent's figures (all 0 with agent mode off): whether it is on, the seconds
/// since Opencast last answered and since the last calendar (-1: never since start), the
/// recording states waiting and the Opencast ingests queued or running.
fn register_opencast(registry: &mut Registry, link: &LinkStatus) {
    let now = crate::sys::time::now_ms();
    let age = |at: Option<i64>| at.map_or(-1.0, |t| (now - t).max(0) as f64 / 1000.0);
    let enabled = Gauge::<i64>::default();
    enabled.set(i64::from(link.enabled));
    registry.register(
        "opencast_agent_enabled",
        "1 when castd acts as an Opencast capture agent",
        enabled,
    );
    let contact = FloatGauge::default();
    contact.set(if link.enabled {
        age(link.last_contact)
    } else {
        0.0
    });
    registry.register(
        "opencast_last_contact_age_seconds",
        "Seconds since Opencast last answered (-1: not since castd started)",
        contact,
    );
    let calendar = FloatGauge::default();
    calendar.set(if link.enabled {
        age(link.last_calendar)
    } else {
        0.0
    });
    registry.register(
        "opencast_calendar_age_seconds",
        "Seconds since the calendar was last fetched (-1: not since castd started)",
        calendar,
    );
    let outbox = Gauge::<i64>::default();
    outbox.set(i64::try_from(link.outbox).unwrap_or(i64::MAX));
    registry.register(
        "opencast_outbox",
        "Recording states waiting to be sent to Opencast",
        outbox,
    );
    let ingests = Gauge::<i64>::default();
    ingests.set(i64::try_from(link.ingest_queue).unwrap_or(i64::MAX));
    registry.register(
        "opencast_ingest_queue",
        "Opencast ingests queued or running",
        ingests,
    );
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// Cheap, cloneable handle to the run-long counters.
#[derive(Clone, Default)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    auth_failures: Family<ReasonLabels, Counter>,
}

impl Metrics {
    /// Counts an answered HTTP request.
    pub fn request(&self, route: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                status: status.to_string(),
            })
            .inc();
    }

    /// Counts a failed login (`invalid_credentials`, `throttled` or `busy`).
    pub fn auth_failure(&self, reason: &str) {
        self.auth_failures
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// The exposition of this instant, in the Prometheus text format.
    pub(crate) async fn render(&self, scrape: Scrape<'_>) -> Result<String, String> {
        let publish_jobs = scrape
            .store
            .read(crate::store::publish::counts_by_state)
            .await
            .map_err(|e| e.to_string())?;
        let disk = scrape.disk;

        let mut registry = Registry::with_prefix("castd");
        registry.register(
            "http_requests",
            "HTTP requests answered, by route pattern and status",
            self.requests.clone(),
        );
        registry.register(
            "auth_failures",
            "Failed logins, by reason (invalid_credentials, throttled, busy)",
            self.auth_failures.clone(),
        );
        let verifications = Counter::<u64>::default();
        verifications.inc_by(scrape.password_verifications);
        registry.register(
            "password_verifications",
            "Passwords checked with argon2 (logins answered from the credential cache, throttled or refused as busy cost none)",
            verifications,
        );

        let info = Family::<VersionLabels, Gauge>::default();
        info.get_or_create(&VersionLabels {
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
        .set(1);
        registry.register("build_info", "castd's version (always 1)", info);

        let uptime = FloatGauge::default();
        uptime.set(scrape.uptime.as_secs_f64());
        registry.register("uptime_seconds", "Seconds since castd started", uptime);

        self.register_capture(&mut registry, scrape.engine);

        register_disk(&mut registry, &disk);
        register_publish_jobs(&mut registry, &publish_jobs);
        register_opencast(&mut registry, &scrape.opencast);

        let mut text = String::new();
        prometheus_client::encoding::text::encode_registry(&mut text, &registry)
            .map_err(|e| e.to_string())?;
        Ok(text)
    }

    fn register_capture(&self, registry: &mut Registry, engine: &Engine) {
        let current = engine.status().state;
        let states = Family::<StateLabels, Gauge>::default();
        for state in [
            CaptureState::Idle,
            CaptureState::Starting,
            CaptureState::Capturing,
            CaptureState::Paused,
            CaptureState::Stopping,
            CaptureState::Processing,
            CaptureState::Error,
        ] {
            states
                .get_or_create(&StateLabels {
                    state: state_name(state),
                })
                .set(i64::from(state == current));
        }
        registry.register(
            "capture_state",
            "1 for the capture state GET /status/capture shows, 0 for the others",
            states,
        );

        let recorded = Family::<SessionLabels, FloatGauge>::default();
        let buffers = Family::<NodeLabels, Counter>::default();
        let dropped = Family::<NodeLabels, Counter>::default();
        let fps = Family::<NodeLabels, FloatGauge>::default();
        for status in engine.statuses() {
            let Some(session) = status.session_id else {
                continue;
            };
            if !status.state.is_active() {
                continue;
            }
            recorded
                .get_or_create(&SessionLabels {
                    session: session.clone(),
                })
                .set(status.elapsed.unwrap_or(0) as f64 / 1000.0);
            for node in engine.node_statuses(Some(&session)).unwrap_or_default() {
                let labels = NodeLabels {
                    session: session.clone(),
                    node: node.node_id,
                };
                buffers.get_or_create(&labels).inc_by(node.buffers);
                dropped.get_or_create(&labels).inc_by(node.dropped);
                fps.get_or_create(&labels).set(node.fps);
            }
        }
        registry.register(
            "capture_recorded_seconds",
            "Recorded time of each running session (pauses left out)",
            recorded,
        );
        registry.register(
            "node_buffers",
            "Buffers each node of a running session passed on",
            buffers,
        );
        registry.register(
            "node_dropped_frames",
            "Frames each node of a running session dropped",
            dropped,
        );
        registry.register(
            "node_fps",
            "Frames per second of each node of a running session, over the last second",
            fps,
        );
    }
}

/// The media store's file system: free, usable (after the reserve) and total bytes.
fn register_disk(registry: &mut Registry, disk: &DiskSpace) {
    for (name, help, value) in [
        (
            "disk_free_bytes",
            "Free bytes of the media store's file system",
            disk.free,
        ),
        (
            "disk_usable_bytes",
            "Bytes recordings may fill (available minus the diskReserveMb reserve)",
            disk.usable,
        ),
        (
            "disk_total_bytes",
            "Size of the media store's file system",
            disk.total,
        ),
    ] {
        let gauge = Gauge::<i64>::default();
        gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        registry.register(name, help, gauge);
    }
}

/// Publish jobs by state, every state listed (0 where none is in it).
fn register_publish_jobs(registry: &mut Registry, publish_jobs: &[(String, u64)]) {
    let jobs = Family::<StateLabels, Gauge>::default();
    for state in [
        JobState::Queued,
        JobState::Running,
        JobState::Done,
        JobState::Failed,
        JobState::Cancelled,
    ] {
        let count = publish_jobs
            .iter()
            .find(|(s, _)| s == state.as_str())
            .map_or(0, |(_, n)| *n);
        jobs.get_or_create(&StateLabels {
            state: state.as_str().to_string(),
        })
        .set(i64::try_from(count).unwrap_or(i64::MAX));
    }
    registry.register("publish_jobs", "Publish jobs by state", jobs);
}

fn state_name(state: CaptureState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Publishes `nodeStats` (and `levels`, for sessions with metered audio) once a second for
/// every capturing or paused session, for as long as castd runs.
pub(crate) fn publish_live_figures(engine: Engine, bus: Bus, tasks: &Tasks) {
    tasks.spawn(async move {
        let mut ticker = tokio::time::interval(LIVE_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            for status in engine.statuses() {
                if !matches!(status.state, CaptureState::Capturing | CaptureState::Paused) {
                    continue;
                }
                let Some(session) = status.session_id else {
                    continue;
                };
                if let Ok(nodes) = engine.node_statuses(Some(&session)) {
                    bus.publish(Event::NodeStats {
                        session_id: session.clone(),
                        nodes,
                    });
                }
                if let Ok(levels) = engine.session_levels(Some(&session))
                    && !levels.is_empty()
                {
                    bus.publish(Event::Levels {
                        session_id: session,
                        levels,
                    });
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_exposed_with_their_labels() {
        let metrics = Metrics::default();
        metrics.request("/status", 200);
        metrics.request("/status", 200);
        metrics.auth_failure("throttled");
        let mut registry = Registry::with_prefix("castd");
        registry.register("http_requests", "requests", metrics.requests.clone());
        registry.register("auth_failures", "failures", metrics.auth_failures.clone());
        let mut text = String::new();
        prometheus_client::encoding::text::encode_registry(&mut text, &registry).unwrap();
        assert!(
            text.contains("castd_http_requests_total{route=\"/status\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("castd_auth_failures_total{reason=\"throttled\"} 1"),
            "{text}"
        );
        assert!(!text.contains("# EOF"), "{text}");
    }

    #[test]
    fn capture_states_have_the_api_names() {
        assert_eq!(state_name(CaptureState::Capturing), "capturing");
    }
}
