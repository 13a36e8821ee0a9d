//! The capture engine: the only owner of live capture state. Sessions, their state
//! machine, the "armed" pipeline that keeps inputs hot, device previews, crash recovery.
//!
//! Commands go in over a channel to one thread (GStreamer calls block, so they stay off
//! the async runtime); answers come back on oneshot channels; state changes go out on the
//! event bus. What panels poll (status, snapshots, node figures) is read from a shared
//! view without waiting for that thread.
//!
//! States: `idle → starting → capturing ⇄ paused → stopping → processing → idle`, and
//! `error`. Each call says in which states it is allowed; any other is refused with its
//! own error.

mod actor;
pub mod preflight;
mod preview;
pub mod sources;
pub mod timeline;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::devices::Devices;
use crate::events::Bus;
use crate::graph::plan::MediaEnv;
use crate::graph::{self, GraphError};
use crate::media::session::SessionPipeline;
use crate::model::{
    AudioLevels, CaptureRequest, CaptureState, CaptureStatus, Marker, NodeStatus, NodeType, Signal,
};
use crate::packages::{PackageError, Packages};
use crate::settings::Settings;
use crate::templates::{TemplateError, Templates};
use actor::{Control, Msg};

/// Who asked for a capture: a person (no event), or the schedule (its event and the
/// wall-clock instant the capture must stop).
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub event_id: Option<String>,
    /// Stop time, ms since the epoch; overrides the request's duration.
    pub stop_at: Option<i64>,
    /// A template given whole (a graph builder session) instead of one named by the request.
    pub template: Option<Box<crate::model::Template>>,
    /// The request's `publishingOverrides` came from an Administrator (recorded on the
    /// package; anyone else's apply only in part).
    pub overrides_by_administrator: bool,
}
use timeline::Timeline;

/// The longest marker title, in characters.
pub const MAX_MARKER_TITLE_CHARS: usize = 256;
/// The longest marker description, in characters.
pub const MAX_MARKER_DESCRIPTION_CHARS: usize = 4096;
/// Markers one session may carry: far more than a lecture has, few enough that the package
/// stays a few megabytes at worst.
pub const MAX_MARKERS_PER_SESSION: usize = 1000;

/// Why a capture call was refused.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("a capture is already running (enable concurrentCaptures to run several)")]
    AlreadyRunning,
    #[error("no capture is running")]
    Idle,
    #[error("the capture is not recording (it is {0})")]
    NotCapturing(String),
    #[error("the capture is not paused (it is {0})")]
    NotPaused(String),
    #[error("several captures run: say which with sessionID")]
    SessionRequired,
    #[error("no capture session {0:?}")]
    SessionNotFound(String),
    #[error("the capture has no stop time to move; start it with a duration")]
    NoStopTime,
    #[error("no template given and no defaultTemplate set")]
    NoTemplate,
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("invalid graph: {0}")]
    Graph(#[from] GraphError),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("marker {field} must be {min} to {max} characters")]
    InvalidMarker {
        field: &'static str,
        min: usize,
        max: usize,
    },
    #[error("the session has {limit} markers, the most it may have")]
    TooManyMarkers { limit: usize },
    #[error("not enough disk space: {needed} bytes needed, {usable} usable")]
    DiskLow { needed: u64, usable: u64 },
    #[error("the capture pipeline failed: {0}")]
    Pipeline(String),
    #[error("no preview: {0}")]
    NoPreview(String),
    #[error("the device's preview is being moved to another pipeline; retry")]
    PreviewRestarting,
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error("the capture engine is not running")]
    Gone,
    #[error("no node {node:?} in a running session of graph {graph:?}")]
    NodeNotFound { graph: String, node: String },
    #[error("node {node:?} has no service {service:?} (it has: {available})")]
    UnknownService {
        node: String,
        service: String,
        available: String,
    },
}

/// What the engine needs from the rest of the daemon.
pub struct Deps {
    pub settings: Settings,
    pub devices: Devices,
    pub templates: Templates,
    pub packages: Packages,
    pub bus: Bus,
    pub media_dir: PathBuf,
    /// Keep the default template's pipeline running while idle, so start only opens a gate.
    pub keep_inputs_hot: bool,
    pub env: MediaEnv,
    /// Where the engine's background tasks run, and are stopped.
    pub tasks: crate::sys::tasks::Tasks,
}

/// A session as readers see it.
#[derive(Clone)]
pub(crate) struct SessionView {
    pub id: String,
    pub state: CaptureState,
    pub title: String,
    pub template_id: String,
    pub event_id: Option<String>,
    pub started_wall: i64,
    pub timeline: Timeline,
    /// Recorded time once the session stopped (the pipeline is gone then).
    pub recorded: Option<Duration>,
    /// Wall-clock stop time (ms since the epoch), when the session has a duration.
    pub stop_at: Option<i64>,
    pub error: Option<String>,
    pub pipeline: Option<Arc<SessionPipeline>>,
    pub node_kinds: BTreeMap<String, NodeType>,
    pub node_devices: BTreeMap<String, String>,
    pub lost_since: BTreeMap<String, i64>,
    pub encoders: Vec<String>,
    pub outputs: BTreeMap<String, String>,
    pub dir: PathBuf,
    /// Bits per second the session writes (for disk estimates).
    pub bitrate: u64,
    pub hot_start: bool,
    pub start_latency: Duration,
}

impl SessionView {
    fn status(&self, now: Instant, now_ms: i64) -> CaptureStatus {
        let mut status = CaptureStatus::idle();
        status.state = self.state;
        status.session_id = Some(self.id.clone());
        status.title = Some(self.title.clone());
        status.template_id = Some(self.template_id.clone());
        status.media_package_id = Some(self.id.clone());
        status.start_time = Some(self.started_wall);
        status.elapsed = Some(self.recorded_now(now).as_millis() as i64);
        status.paused_total = Some(self.timeline.paused(now).as_millis() as i64);
        status.remaining = self.stop_at.map(|s| (s - now_ms).max(0));
        status.event_id = self.event_id.clone();
        status.error = self.error.clone();
        status.outputs = Some(self.outputs.values().cloned().collect());
        status.encoders = Some(self.encoders.clone());
        status.hot_start = Some(self.hot_start);
        status.start_latency = Some((self.start_latency.as_secs_f64() * 10_000.0).round() / 10.0);
        status
    }

    /// Recorded time: from the media (exact to the frame) while the pipeline runs.
    pub fn recorded_now(&self, now: Instant) -> Duration {
        match (&self.recorded, &self.pipeline) {
            (Some(done), _) => *done,
            (None, Some(p)) => p.recorded(),
            (None, None) => self.timeline.elapsed(now),
        }
    }

    fn is_active(&self) -> bool {
        matches!(
            self.state,
            CaptureState::Starting
                | CaptureState::Capturing
                | CaptureState::Paused
                | CaptureState::Stopping
        )
    }
}

#[derive(Default)]
pub(crate) struct View {
    pub sessions: Vec<SessionView>,
}

/// Cheap, cloneable handle to the engine.
#[derive(Clone)]
pub struct Engine {
    tx: std::sync::mpsc::Sender<Msg>,
    view: Arc<RwLock<View>>,
    devices: Devices,
    settings: Settings,
    env: MediaEnv,
    media_dir: PathBuf,
}

/// Which session a call means.
pub type SessionId = Option<String>;

impl Engine {
    /// Recovers unfinished packages, then starts the engine thread.
    pub async fn start(deps: Deps) -> Engine {
        let view = Arc::new(RwLock::new(View::default()));
        let (devices, settings, env, media_dir) = (
            deps.devices.clone(),
            deps.settings.clone(),
            deps.env.clone(),
            deps.media_dir.clone(),
        );
        let tx = actor::spawn(deps, view.clone(), tokio::runtime::Handle::current()).await;
        Engine {
            tx,
            view,
            devices,
            settings,
            env,
            media_dir,
        }
    }

    /// Runs a template for `duration` with nothing kept, and reports what each node did.
    pub async fn test_template(
        &self,
        template: crate::model::Template,
        duration: Duration,
    ) -> Result<crate::model::TestReport, CaptureError> {
        self.ask(|reply| Msg::Test {
            template,
            duration,
            reply,
        })
        .await
    }

    /// Green/yellow/red checks of a template, without running media.
    pub fn preflight(
        &self,
        template: &crate::model::Template,
        duration_ms: Option<i64>,
    ) -> crate::model::Preflight {
        let usable = crate::sys::disk::usage(&self.media_dir)
            .map(|u| {
                u.available
                    .saturating_sub(self.settings.disk_reserve_bytes())
            })
            .unwrap_or(0);
        preflight::preflight(template, &self.devices, &self.env, usable, duration_ms)
    }

    /// The pipeline a template compiles to with the devices present now, secrets masked.
    pub fn pipeline_text(&self, template: &crate::model::Template) -> Result<String, CaptureError> {
        let graph = normalised(template)?;
        let resolved = sources::resolve(&graph, &self.devices);
        let dir = self.media_dir.join("<package>");
        let plan = crate::graph::compile::compile(
            &graph,
            &resolved.specs,
            &self.env,
            &dir,
            self.settings.preview_interval_ms(),
        )
        .map_err(|e| CaptureError::Pipeline(e.to_string()))?;
        Ok(plan.describe())
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, CaptureError>>) -> Msg,
    ) -> Result<T, CaptureError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(make(reply)).map_err(|_| CaptureError::Gone)?;
        answer.await.map_err(|_| CaptureError::Gone)?
    }

    pub async fn start_capture(
        &self,
        request: CaptureRequest,
        origin: Origin,
    ) -> Result<CaptureStatus, CaptureError> {
        self.ask(|reply| Msg::Start {
            request,
            origin,
            reply,
        })
        .await
    }

    /// Names the template the schedule needs next, so its inputs are kept hot (when
    /// `keep_inputs_hot` is on) and the event starts by opening a gate.
    pub fn prefer_template(&self, template: Option<String>) {
        let _ = self.tx.send(Msg::Prefer { template });
    }

    /// Moves a session's stop time to the wall-clock instant `at_ms`.
    pub async fn stop_at(
        &self,
        session: SessionId,
        at_ms: i64,
    ) -> Result<CaptureStatus, CaptureError> {
        self.ask(|reply| Msg::Control {
            control: Control::StopAt(at_ms),
            session,
            reply,
        })
        .await
    }

    pub async fn stop(&self, session: SessionId) -> Result<CaptureStatus, CaptureError> {
        self.ask(|reply| Msg::Control {
            control: Control::Stop,
            session,
            reply,
        })
        .await
    }

    pub async fn pause(&self, session: SessionId) -> Result<CaptureStatus, CaptureError> {
        self.ask(|reply| Msg::Control {
            control: Control::Pause,
            session,
            reply,
        })
        .await
    }

    pub async fn resume(&self, session: SessionId) -> Result<CaptureStatus, CaptureError> {
        self.ask(|reply| Msg::Control {
            control: Control::Resume,
            session,
            reply,
        })
        .await
    }

    pub async fn extend(
        &self,
        session: SessionId,
        by_ms: i64,
    ) -> Result<CaptureStatus, CaptureError> {
        self.ask(|reply| Msg::Control {
            control: Control::Extend(by_ms),
            session,
            reply,
        })
        .await
    }

    pub async fn marker(
        &self,
        session: SessionId,
        title: String,
        description: Option<String>,
    ) -> Result<Marker, CaptureError> {
        check_marker(&title, description.as_deref())?;
        self.ask(|reply| Msg::Marker {
            session,
            title,
            description,
            reply,
        })
        .await
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, View> {
        self.view
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The status a panel shows: the active session, else one being processed, else idle.
    pub fn status(&self) -> CaptureStatus {
        let view = self.read();
        let (now, now_ms) = (Instant::now(), crate::sys::time::now_ms());
        view.sessions
            .iter()
            .find(|s| s.is_active())
            .or_else(|| view.sessions.first())
            .map_or_else(CaptureStatus::idle, |s| s.status(now, now_ms))
    }

    /// Every session the engine knows (active and being processed).
    pub fn statuses(&self) -> Vec<CaptureStatus> {
        let (now, now_ms) = (Instant::now(), crate::sys::time::now_ms());
        self.read()
            .sessions
            .iter()
            .map(|s| s.status(now, now_ms))
            .collect()
    }

    fn session(&self, session: Option<&str>) -> Result<SessionView, CaptureError> {
        let view = self.read();
        match session {
            Some(id) => view
                .sessions
                .iter()
                .find(|s| s.id == id)
                .cloned()
                .ok_or_else(|| CaptureError::SessionNotFound(id.to_string())),
            None => {
                let active: Vec<&SessionView> =
                    view.sessions.iter().filter(|s| s.is_active()).collect();
                match active.as_slice() {
                    [] => view.sessions.first().cloned().ok_or(CaptureError::Idle),
                    [one] => Ok((*one).clone()),
                    _ => Err(CaptureError::SessionRequired),
                }
            }
        }
    }

    /// Runs a service of a node of a running session; `graph` is the session id or its
    /// template's id. `rtmpOutput` nodes offer `enable`, `disable` and `stats`.
    pub fn node_service(
        &self,
        graph: &str,
        node: &str,
        service: &str,
    ) -> Result<serde_json::Value, CaptureError> {
        let not_found = || CaptureError::NodeNotFound {
            graph: graph.to_string(),
            node: node.to_string(),
        };
        let view = self.read();
        let session = view
            .sessions
            .iter()
            .filter(|s| s.is_active())
            .find(|s| s.id == graph || s.template_id == graph)
            .ok_or_else(not_found)?;
        let kind = session.node_kinds.get(node).ok_or_else(not_found)?;
        let stream = match kind {
            NodeType::RtmpOutput => session
                .pipeline
                .as_ref()
                .and_then(|p| p.stream(node))
                .ok_or_else(not_found)?,
            _ => {
                return Err(CaptureError::UnknownService {
                    node: node.to_string(),
                    service: service.to_string(),
                    available: "none".into(),
                });
            }
        };
        match service {
            "enable" => stream.set_enabled(true),
            "disable" => stream.set_enabled(false),
            "stats" => {}
            _ => {
                return Err(CaptureError::UnknownService {
                    node: node.to_string(),
                    service: service.to_string(),
                    available: "enable, disable, stats".into(),
                });
            }
        }
        Ok(serde_json::to_value(stream.stats()).expect("stats serialise"))
    }

    /// The running session whose template (or graph) has this id.
    pub fn session_of(&self, template_id: &str) -> Option<String> {
        self.read()
            .sessions
            .iter()
            .find(|s| s.is_active() && s.template_id == template_id)
            .map(|s| s.id.clone())
    }

    /// Per-node figures of a session.
    pub fn node_statuses(&self, session: Option<&str>) -> Result<Vec<NodeStatus>, CaptureError> {
        Ok(node_statuses_of(&self.session(session)?))
    }

    /// The latest audio levels of a session's metered audio nodes (node → levels).
    pub fn session_levels(
        &self,
        session: Option<&str>,
    ) -> Result<BTreeMap<String, AudioLevels>, CaptureError> {
        let s = self.session(session)?;
        let Some(pipeline) = &s.pipeline else {
            return Ok(BTreeMap::new());
        };
        Ok(pipeline
            .plan()
            .levels
            .keys()
            .filter_map(|node| Some((node.clone(), pipeline.levels(node)?)))
            .collect())
    }

    /// Drops the armed pipeline and every device preview; they are built again from the
    /// devices present then (the armed one within a few seconds). Refused while a session
    /// is active.
    pub async fn reset_media(&self) -> Result<(), CaptureError> {
        self.ask(|reply| Msg::ResetMedia { reply }).await
    }

    /// The latest JPEG of a session's main picture, or of `node`.
    pub fn session_snapshot(&self, node: Option<&str>) -> Result<Bytes, CaptureError> {
        let s = self.session(None).map_err(|_| CaptureError::Idle)?;
        let pipeline = s.pipeline.as_ref().ok_or(CaptureError::Idle)?;
        let node = match node {
            Some(n) => n.to_string(),
            None => pipeline
                .plan()
                .main_video
                .clone()
                .or_else(|| pipeline.plan().snapshots.keys().next().cloned())
                .ok_or_else(|| CaptureError::NoPreview("this session has no video".into()))?,
        };
        pipeline
            .snapshot(&node)
            .map(|s| s.jpeg)
            .ok_or_else(|| CaptureError::NoPreview(format!("node {node} has no picture yet")))
    }

    /// The files the recorder nodes of the current session write: node → file names, and
    /// the session directory.
    pub fn session_outputs(
        &self,
    ) -> Result<(PathBuf, BTreeMap<String, Vec<String>>), CaptureError> {
        let s = self.session(None)?;
        let files = s
            .outputs
            .iter()
            .map(|(node, file)| (node.clone(), vec![file.clone()]))
            .collect();
        Ok((s.dir.clone(), files))
    }

    /// Whether a session (or the armed pipeline) uses the template.
    pub fn template_in_use(&self, template_id: &str) -> bool {
        self.read()
            .sessions
            .iter()
            .any(|s| s.is_active() && s.template_id == template_id)
    }

    /// Bits per second the active sessions write.
    pub fn bitrate(&self) -> Option<u64> {
        let view = self.read();
        let total: u64 = view
            .sessions
            .iter()
            .filter(|s| s.is_active())
            .map(|s| s.bitrate)
            .sum();
        (total > 0).then_some(total)
    }

    /// The latest JPEG of a video device: from the session or armed pipeline using it, or
    /// from a preview started for it (kept while asked for).
    pub async fn device_snapshot(&self, device_id: &str) -> Result<Bytes, CaptureError> {
        preview::first_value(
            || self.preview_pipeline(device_id, true),
            |pipeline, node| pipeline.snapshot(node).map(|s| s.jpeg),
        )
        .await
    }

    /// Audio levels of an audio device, like `device_snapshot`.
    pub async fn device_levels(&self, device_id: &str) -> Result<AudioLevels, CaptureError> {
        preview::first_value(
            || self.preview_pipeline(device_id, false),
            |pipeline, node| pipeline.levels(node),
        )
        .await
    }

    /// The pipeline that holds a device now (started for it if none does), and the
    /// device's node in it.
    async fn preview_pipeline(
        &self,
        device_id: &str,
        video: bool,
    ) -> Result<(Arc<SessionPipeline>, String), CaptureError> {
        self.ask(|reply| Msg::Preview {
            device_id: device_id.to_string(),
            video,
            reply,
        })
        .await
    }

    /// Stops every session (files completed, packages left for recovery to finish) and the
    /// armed pipeline. Called on daemon shutdown.
    pub async fn shutdown(&self) {
        let (reply, done) = oneshot::channel();
        if self.tx.send(Msg::Shutdown { reply }).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(4), done).await;
        }
    }
}

/// Per-node figures of a session.
pub(crate) fn node_statuses_of(s: &SessionView) -> Vec<NodeStatus> {
    let figures = s.pipeline.as_ref().map(|p| p.figures()).unwrap_or_default();
    s.node_kinds
        .iter()
        .map(|(node, kind)| {
            let f = figures.get(node).cloned().unwrap_or_default();
            let lost = s.lost_since.get(node).copied();
            let has_signal_state =
                s.node_devices.contains_key(node) || matches!(kind, NodeType::NetworkSource);
            NodeStatus {
                node_id: node.clone(),
                kind: *kind,
                state: if f.last_error.is_some() && lost.is_some() {
                    "error".into()
                } else if lost.is_some() {
                    "no-signal".into()
                } else {
                    "running".into()
                },
                buffers: f.buffers,
                fps: f.fps,
                dropped: f.dropped,
                bitrate: f.bitrate,
                signal: match (has_signal_state, lost) {
                    (_, Some(_)) => Signal::None,
                    (true, None) => Signal::Ok,
                    (false, None) => Signal::Unknown,
                },
                signal_lost_since: lost,
                last_error: f.last_error.clone(),
                encoder: (matches!(kind, NodeType::H264Encoder | NodeType::AacEncoder))
                    .then(|| {
                        s.pipeline.as_ref().and_then(|p| {
                            p.plan()
                                .elements
                                .iter()
                                .find(|e| e.name == format!("{node}-enc"))
                                .map(|e| e.factory.to_string())
                        })
                    })
                    .flatten(),
                device_id: s.node_devices.get(node).cloned(),
                stream: s
                    .pipeline
                    .as_ref()
                    .and_then(|p| p.stream(node))
                    .map(|stream| stream.stats()),
            }
        })
        .map(|mut status| {
            // A stream's own figures are what matter for its node.
            if let Some(stream) = &status.stream {
                status.state = stream.state.clone();
                status.bitrate = stream.bitrate;
                status.fps = stream.fps;
                status.last_error = stream.last_error.clone();
            }
            status
        })
        .collect()
}

/// Checks what a capture request asks for before anything starts.
pub fn validate_request(request: &CaptureRequest) -> Result<(), CaptureError> {
    let invalid = |m: String| Err(CaptureError::InvalidRequest(m));
    if let Some(title) = &request.title
        && (title.chars().count() > 256 || title.chars().any(char::is_control))
    {
        return invalid("title must be at most 256 characters without control characters".into());
    }
    if let Some(d) = request.duration
        && !(1000..=86_400_000).contains(&d)
    {
        return invalid(format!("duration must be 1000 to 86400000 ms, got {d}"));
    }
    if request.tags.len() > 50
        || request
            .tags
            .iter()
            .any(|t| t.is_empty() || t.chars().count() > 64)
    {
        return invalid("at most 50 tags of 1 to 64 characters".into());
    }
    let metadata_size = serde_json::to_string(&request.metadata).map_or(0, |s| s.len());
    if metadata_size > 64 * 1024 {
        return invalid("metadata must be at most 64 KiB of JSON".into());
    }
    Ok(())
}

/// Bits per second a graph writes: the sum of its encoders' bitrates.
pub fn graph_bitrate(graph: &crate::model::Graph) -> u64 {
    graph
        .nodes
        .iter()
        .map(|n| {
            let rate = n
                .options
                .get("bitrate")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0);
            match n.kind {
                NodeType::H264Encoder => rate * 1000,
                NodeType::AacEncoder => rate,
                _ => 0,
            }
        })
        .sum()
}

/// Title from a template pattern: `{template}`, `{date}` and `{time}` (local time).
pub fn title_from(pattern: &str, template_name: &str, timezone: &str) -> String {
    let tz: chrono_tz::Tz = timezone.parse().unwrap_or(chrono_tz::UTC);
    let now = chrono::Utc::now().with_timezone(&tz);
    pattern
        .replace("{template}", template_name)
        .replace("{date}", &now.format("%Y-%m-%d").to_string())
        .replace("{time}", &now.format("%H:%M").to_string())
}

/// Validates a template's graph for use (the compiler needs a normalised graph).
pub fn normalised(template: &crate::model::Template) -> Result<crate::model::Graph, CaptureError> {
    Ok(graph::validate(&template.graph)?)
}

/// A marker's title and description within their lengths (checked before the engine
/// thread sees the call).
fn check_marker(title: &str, description: Option<&str>) -> Result<(), CaptureError> {
    if title.trim().is_empty() || title.chars().count() > MAX_MARKER_TITLE_CHARS {
        return Err(CaptureError::InvalidMarker {
            field: "title",
            min: 1,
            max: MAX_MARKER_TITLE_CHARS,
        });
    }
    if description.is_some_and(|d| d.chars().count() > MAX_MARKER_DESCRIPTION_CHARS) {
        return Err(CaptureError::InvalidMarker {
            field: "description",
            min: 0,
            max: MAX_MARKER_DESCRIPTION_CHARS,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked() {
        let ok = CaptureRequest {
            title: Some("Physics 101".into()),
            duration: Some(3_600_000),
            ..Default::default()
        };
        assert!(validate_request(&ok).is_ok());
        for bad in [
            CaptureRequest {
                duration: Some(-5),
                ..Default::default()
            },
            CaptureRequest {
                duration: Some(i64::MAX),
                ..Default::default()
            },
            CaptureRequest {
                title: Some("a\u{0}b".into()),
                ..Default::default()
            },
            CaptureRequest {
                tags: vec!["x".into(); 51],
                ..Default::default()
            },
        ] {
            assert!(validate_request(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn titles_fill_their_pattern() {
        let t = title_from("{template} {date}", "Lecture", "UTC");
        assert!(t.starts_with("Lecture 20"), "{t}");
    }
}
