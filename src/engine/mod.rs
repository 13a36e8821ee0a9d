//! The capture engine: the only owner of live capture state. Sessions, their state
//! machine, the "armed" pipeline that keeps inputs hot, device previews, crash recovery.
//!
//! Commands go in over a channel to one thread (GStreamer calls block, so they stay off
//! the async runtime); answers come back on oneshot channels; state changes go out on the
//! event bus. What panels poll (status, snapshots, node figures) is read from a shared
//! view without waiting for that thread. That thread never waits itself: not for the store
//! (templates are resolved before a command is sent, packages are written by an ordered
//! outbox task), not for a pipeline (its answers come back as events, with deadlines).
//! Every change to a running pipeline goes through the channel; readers get read-only
//! `Readout`s.
//!
//! States: `idle → starting → capturing ⇄ paused → stopping → processing → idle`, and
//! `error`. Each call says in which states it is allowed (the table is `machine`); any
//! other is refused with its own error.

mod actor;
mod arming;
mod control;
mod machine;
mod outbox;
mod pipelines;
pub mod preflight;
mod preview;
mod recovery;
mod request;
mod session;
pub mod sources;
mod start;
mod test_run;
pub mod timeline;
mod transitions;
mod view;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{oneshot, watch};

use crate::devices::Devices;
use crate::events::Bus;
use crate::graph::GraphError;
use crate::graph::plan::MediaEnv;
use crate::media::session::Readout;
use crate::model::{AudioLevels, CaptureRequest, CaptureStatus, Marker, NodeStatus};
use crate::packages::{PackageError, Packages};
use crate::settings::Settings;
use crate::templates::{TemplateError, Templates};
use actor::{Control, Msg, Running};
use arming::ArmHints;
pub use request::validate_request;
use start::Asked;
pub(crate) use view::{SessionView, View, node_statuses_of};

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

/// The longest marker title, in characters.
pub const MAX_MARKER_TITLE_CHARS: usize = crate::model::text::MAX_TITLE_CHARS;
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
    Pipeline(crate::media::Error),
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
}

/// Cheap, cloneable handle to the engine.
#[derive(Clone)]
pub struct Engine {
    tx: std::sync::mpsc::Sender<Msg>,
    view: Arc<RwLock<View>>,
    devices: Devices,
    settings: Settings,
    templates: Templates,
    env: MediaEnv,
    media_dir: PathBuf,
    /// What the arming task goes by (the schedule's next template).
    hints: Arc<watch::Sender<ArmHints>>,
    /// The engine's thread and tasks, taken by the shutdown that joins them.
    running: Arc<Mutex<Option<Running>>>,
}

/// A shutdown finishes the sessions' files and joins the engine's thread and tasks within
/// this.
const SHUTDOWN_WITHIN: Duration = Duration::from_secs(4);

/// Which session a call means.
pub type SessionId = Option<String>;

impl Engine {
    /// Recovers unfinished packages, then starts the engine thread.
    pub async fn start(deps: Deps) -> Engine {
        let view = Arc::new(RwLock::new(View::default()));
        let hints = Arc::new(watch::Sender::new(ArmHints::default()));
        let (devices, settings, templates, env, media_dir) = (
            deps.devices.clone(),
            deps.settings.clone(),
            deps.templates.clone(),
            deps.env.clone(),
            deps.media_dir.clone(),
        );
        let (tx, running) = actor::spawn(
            deps,
            view.clone(),
            hints.clone(),
            &tokio::runtime::Handle::current(),
        );
        Engine {
            tx,
            view,
            devices,
            settings,
            templates,
            env,
            media_dir,
            hints,
            running: Arc::new(Mutex::new(Some(running))),
        }
    }

    /// Runs a template for `duration` with nothing kept, and reports what each node did.
    /// Refused (`AlreadyRunning`) while a session records; waits for a session that starts
    /// or stops, and for another test.
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
        let graph = request::normalised(template)?;
        let resolved = sources::resolve(&graph, &self.devices);
        let dir = self.media_dir.join("<package>");
        let plan = crate::graph::compile::compile(
            &graph,
            &resolved.specs,
            &self.env,
            &dir,
            self.settings.preview_interval_ms(),
        )
        .map_err(|e| CaptureError::Pipeline(e.into()))?;
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

    /// Starts a capture of the template the request (or the origin) names, else the
    /// `defaultTemplate`; answers once the recording runs. Refused (`AlreadyRunning`) while
    /// another session records, unless `concurrentCaptures` is on; waits for a session that
    /// starts or stops first (with `concurrentCaptures` on, only for a stopping one that
    /// holds a device this capture needs).
    pub async fn start_capture(
        &self,
        request: CaptureRequest,
        mut origin: Origin,
    ) -> Result<CaptureStatus, CaptureError> {
        let at = Instant::now();
        // Resolved here, so the engine thread never waits for the store; a lookup that
        // failed is reported by the engine in its turn, after the checks that come first.
        let template = match origin.template.take() {
            Some(given) => Ok(*given),
            None => {
                arming::named_or_default(
                    &self.templates,
                    &self.settings,
                    request.template_id.as_deref(),
                )
                .await
            }
        };
        self.ask(|reply| Msg::Start {
            asked: Box::new(Asked {
                request,
                origin,
                at,
            }),
            template,
            reply,
        })
        .await
    }

    /// Names the template the schedule needs next, so its inputs are kept hot (when
    /// `keep_inputs_hot` is on) and the event starts by opening a gate.
    pub fn prefer_template(&self, template: Option<String>) {
        self.hints.send_if_modified(|hints| {
            let changed = hints.scheduled_template != template;
            hints.scheduled_template = template;
            changed
        });
    }

    /// Moves a session's stop time to the wall-clock instant `at_ms`. Legal while the
    /// session records (capturing or paused); waits while it starts, resumes or stops.
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

    /// Stops a session; answers once its files are complete (`processing`). Legal while it
    /// records (capturing or paused); waits while it starts, resumes or stops.
    pub async fn stop(&self, session: SessionId) -> Result<CaptureStatus, CaptureError> {
        self.ask(|reply| Msg::Control {
            control: Control::Stop,
            session,
            reply,
        })
        .await
    }

    /// Pauses a capturing session; waits while it starts, resumes or stops.
    pub async fn pause(&self, session: SessionId) -> Result<CaptureStatus, CaptureError> {
        self.ask(|reply| Msg::Control {
            control: Control::Pause,
            session,
            reply,
        })
        .await
    }

    /// Resumes a paused session; answers once it records again. Waits while the session
    /// starts, resumes or stops.
    pub async fn resume(&self, session: SessionId) -> Result<CaptureStatus, CaptureError> {
        self.ask(|reply| Msg::Control {
            control: Control::Resume,
            session,
            reply,
        })
        .await
    }

    /// Moves a session's stop time `by_ms` later. Legal while the session records and has a
    /// stop time; waits while it starts, resumes or stops.
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

    /// Adds a marker at the session's recorded time. Legal while the session records;
    /// waits while it starts, resumes or stops.
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
    /// template's id. `rtmpOutput` nodes offer `enable`, `disable` and `stats`. Changes go
    /// through the engine thread, like every change to a running pipeline.
    pub async fn node_service(
        &self,
        graph: &str,
        node: &str,
        service: &str,
    ) -> Result<serde_json::Value, CaptureError> {
        self.ask(|reply| Msg::NodeService {
            graph: graph.to_string(),
            node: node.to_string(),
            service: service.to_string(),
            reply,
        })
        .await
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
    ) -> Result<(Arc<Readout>, String), CaptureError> {
        self.ask(|reply| Msg::Preview {
            device_id: device_id.to_string(),
            video,
            reply,
        })
        .await
    }

    /// Stops every session (files completed, packages left for recovery to finish) and the
    /// armed pipeline, then joins the engine's thread and tasks. Called on daemon shutdown;
    /// returns within a few seconds whatever the pipelines do.
    pub async fn shutdown(&self) {
        let deadline = tokio::time::Instant::now() + SHUTDOWN_WITHIN;
        let (reply, done) = oneshot::channel();
        if self.tx.send(Msg::Shutdown { reply }).is_ok() {
            let _ = tokio::time::timeout_at(deadline, done).await;
        }
        let running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(running) = running {
            running.stop(deadline).await;
        }
    }
}

/// A marker's title and description within their lengths (checked before the engine
/// thread sees the call).
fn check_marker(title: &str, description: Option<&str>) -> Result<(), CaptureError> {
    // A marker names a point on the timeline: it needs a title, held to the titles' rule.
    if title.trim().is_empty() || crate::model::Title::try_from(title).is_err() {
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
