//! The engine thread: owns sessions, the armed pipeline and device previews, and runs
//! every state transition. One message at a time, so transitions never interleave.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::Map;
use tokio::sync::oneshot;

use super::sources::{self, Resolved};
use super::timeline::Timeline;
use super::{
    CaptureError, Deps, Origin, SessionView, View, graph_bitrate, normalised, title_from,
    validate_request,
};
use crate::events::{Bus, Event};
use crate::graph::compile;
use crate::graph::plan::{Plan, RecorderPlan};
use crate::media::finalize;
use crate::media::session::{PipelineEvent, SessionPipeline};
use crate::model::{
    AlarmCode, AlarmLevel, CaptureRequest, CaptureState, CaptureStatus, Marker, MediaPackage,
    Output, PackageState, Signal, Template,
};
use crate::packages::{self, STAGING_MARK};

type Reply<T> = oneshot::Sender<Result<T, CaptureError>>;

pub(super) enum Control {
    Stop,
    Pause,
    Resume,
    Extend(i64),
    /// Stop at this wall-clock time (ms since the epoch) instead.
    StopAt(i64),
}

pub(super) enum Msg {
    Start {
        request: CaptureRequest,
        origin: Origin,
        reply: Reply<CaptureStatus>,
    },
    /// The template the schedule needs next: kept hot ahead of the other choices.
    Prefer {
        template: Option<String>,
    },
    Control {
        control: Control,
        session: Option<String>,
        reply: Reply<CaptureStatus>,
    },
    Marker {
        session: Option<String>,
        title: String,
        description: Option<String>,
        reply: Reply<Marker>,
    },
    Preview {
        device_id: String,
        video: bool,
        reply: Reply<(Arc<SessionPipeline>, String)>,
    },
    Pipeline {
        session: String,
        event: PipelineEvent,
    },
    Processed {
        session: String,
        outputs: BTreeMap<String, Output>,
        problems: Vec<String>,
    },
    Device(Event),
    Test {
        template: Template,
        duration: Duration,
        reply: Reply<crate::model::TestReport>,
    },
    /// Drop the armed pipeline and the previews (refused while a session is active).
    ResetMedia {
        reply: Reply<()>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// A pipeline built for a template, ready to record.
struct Prepared {
    id: String,
    dir: PathBuf,
    template: Template,
    resolved: Resolved,
    pipeline: Arc<SessionPipeline>,
}

/// Why a session ended early.
struct Early {
    state: PackageState,
    reason: String,
}

struct Session {
    view: SessionView,
    package: MediaPackage,
    recorders: Vec<RecorderPlan>,
    root: String,
    early: Option<Early>,
}

struct Preview {
    pipeline: Arc<SessionPipeline>,
    last_used: Instant,
}

struct Actor {
    deps: Deps,
    rt: tokio::runtime::Handle,
    tx: Sender<Msg>,
    view: Arc<RwLock<View>>,
    sessions: BTreeMap<String, Session>,
    armed: Option<Prepared>,
    previews: BTreeMap<String, Preview>,
    last_arm_check: Instant,
    last_disk_check: Instant,
    /// The template of the latest capture, armed again after it.
    last_template: Option<String>,
    /// The template of the next scheduled event, armed before anything else.
    scheduled_template: Option<String>,
}

/// Idle previews are stopped after this long without being asked for.
const PREVIEW_IDLE: Duration = Duration::from_secs(30);
/// How long a lost network stream waits before it is opened again.
const NETWORK_RETRY: Duration = Duration::from_secs(3);
/// Recording stops while this many seconds of it would still fit, to finish cleanly.
const DISK_MARGIN_SECS: u64 = 30;

pub(super) async fn spawn(
    deps: Deps,
    view: Arc<RwLock<View>>,
    rt: tokio::runtime::Handle,
) -> Sender<Msg> {
    let (tx, rx) = std::sync::mpsc::channel();
    // Device changes reach the thread as messages.
    let mut events = deps.bus.subscribe();
    let forward = tx.clone();
    deps.tasks.spawn(async move {
        loop {
            match events.recv().await {
                Ok(e)
                    if matches!(
                        e.event,
                        Event::DeviceAdded { .. }
                            | Event::DeviceRemoved { .. }
                            | Event::DeviceChanged { .. }
                    ) =>
                {
                    if forward.send(Msg::Device(e.event.clone())).is_err() {
                        return;
                    }
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            }
        }
    });
    // Prepared-but-unused directories go before anything is armed; unfinished packages are
    // finished in the background so a power cut never delays the next recording.
    deps.packages.remove_staging_dirs();
    let (packages, media_dir, bus) = (
        deps.packages.clone(),
        deps.media_dir.clone(),
        deps.bus.clone(),
    );
    deps.tasks.spawn(async move {
        let recovered = recover(&packages, &bus).await;
        if recovered > 0 {
            log::warn!(
                "recovered {recovered} media package(s) in {} left unfinished by an interruption",
                media_dir.display()
            );
        }
    });
    let actor = Actor {
        deps,
        rt,
        tx: tx.clone(),
        view,
        sessions: BTreeMap::new(),
        armed: None,
        previews: BTreeMap::new(),
        last_arm_check: Instant::now() - Duration::from_secs(60),
        scheduled_template: None,
        last_disk_check: Instant::now(),
        last_template: None,
    };
    std::thread::Builder::new()
        .name("castd-engine".into())
        .spawn(move || actor.run(rx))
        .expect("the engine thread starts");
    tx
}

/// Finishes packages a crash, power cut or kill left in `capturing`/`processing`: their
/// fragmented files are rewritten when possible, and they are marked `partial`.
/// Each recovered package's session is announced as ended (`Idle` with the reason), so
/// whatever waits for finished recordings (automatic publishing) sees it now rather than
/// after the next capture.
pub(super) async fn recover(packages: &crate::packages::Packages, bus: &Bus) -> usize {
    let Ok(unfinished) = packages.unfinished().await else {
        return 0;
    };
    let count = unfinished.len();
    for mut package in unfinished {
        let dir = packages.dir(&package.id);
        let recorders: Vec<RecorderPlan> = package
            .processing
            .nodes
            .iter()
            .filter(|n| n.kind == crate::model::NodeType::FileRecorder)
            .map(|n| {
                let mkv = n.options.get("container").and_then(|v| v.as_str()) == Some("mkv");
                RecorderPlan {
                    node: n.id.clone(),
                    file: format!("{}.{}", n.id, if mkv { "mkv" } else { "mp4" }),
                    mime: if mkv { "video/x-matroska" } else { "video/mp4" },
                    sink: String::new(),
                }
            })
            .collect();
        let root = package.processing.root.clone();
        let (outputs, problems) =
            tokio::task::spawn_blocking(move || finalize_outputs(&dir, &recorders, &root))
                .await
                .unwrap_or_default();
        package.duration = outputs
            .get(&package.processing.root)
            .and_then(|o| o.duration)
            .unwrap_or(package.duration);
        package.outputs = outputs;
        package.state = PackageState::Partial;
        let mut reason =
            "the recording was interrupted (crash, power cut or shutdown) and recovered"
                .to_string();
        if !problems.is_empty() {
            reason.push_str(&format!("; {}", problems.join("; ")));
        }
        package.error = Some(reason.clone());
        if let Err(e) = packages.save(&package).await {
            log::error!("cannot save recovered package {}: {e}", package.id);
            continue;
        }
        bus.publish(Event::CaptureState {
            session_id: package.id.clone(),
            state: CaptureState::Idle,
            media_package_id: package.id.clone(),
            error: Some(reason),
        });
    }
    count
}

/// Makes every recorder's file final (fast-start MP4), with facts and a thumbnail.
fn finalize_outputs(
    dir: &Path,
    recorders: &[RecorderPlan],
    root: &str,
) -> (BTreeMap<String, Output>, Vec<String>) {
    let mut outputs = BTreeMap::new();
    let mut problems = Vec::new();
    for rec in recorders {
        let path = dir.join(&rec.file);
        if std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) == 0 {
            problems.push(format!("{} recorded nothing", rec.node));
            continue;
        }
        if rec.file.ends_with(".mp4")
            && let Err(e) = finalize::faststart(&path)
        {
            log::warn!("{e}; keeping the fragmented file");
            problems.push(format!("{} kept as recorded: {e}", rec.node));
        }
        match finalize::facts(&path) {
            Ok(facts) => {
                outputs.insert(
                    rec.node.clone(),
                    Output {
                        entry: rec.node.clone(),
                        mime: rec.mime.to_string(),
                        file: rec.file.clone(),
                        size: Some(facts.size),
                        duration: facts.duration_ms,
                        node_id: Some(rec.node.clone()),
                        md5: Some(facts.md5),
                    },
                );
            }
            Err(e) => problems.push(format!("{}: {e}", rec.node)),
        }
    }
    if let Some(main) = outputs.get(root).filter(|o| o.mime.starts_with("video/")) {
        let thumb = dir.join("thumbnail.jpg");
        match finalize::thumbnail(&dir.join(&main.file), &thumb, 320)
            .and_then(|()| finalize::facts(&thumb))
        {
            Ok(facts) => {
                outputs.insert(
                    "thumbnail".into(),
                    Output {
                        entry: "thumbnail".into(),
                        mime: "image/jpeg".into(),
                        file: "thumbnail.jpg".into(),
                        size: Some(facts.size),
                        duration: None,
                        node_id: Some(root.to_string()),
                        md5: Some(facts.md5),
                    },
                );
            }
            Err(e) => problems.push(format!("thumbnail: {e}")),
        }
    }
    (outputs, problems)
}

impl Actor {
    fn run(mut self, rx: Receiver<Msg>) {
        loop {
            match rx.recv_timeout(self.next_wakeup()) {
                Ok(Msg::Shutdown { reply }) => {
                    self.shutdown();
                    let _ = reply.send(());
                    return;
                }
                Ok(msg) => self.handle(msg),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.shutdown();
                    return;
                }
            }
            self.tick();
            self.publish_view();
        }
    }

    fn next_wakeup(&self) -> Duration {
        let now = crate::sys::time::now_ms();
        let next_stop = self
            .sessions
            .values()
            .filter(|s| s.view.is_active())
            .filter_map(|s| s.view.stop_at)
            .min()
            .map(|at| Duration::from_millis((at - now).max(0) as u64));
        next_stop
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1))
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Start {
                request,
                origin,
                reply,
            } => {
                let result = self.start(request, origin);
                // Readers must see the session the caller is told about.
                self.publish_view();
                let _ = reply.send(result);
            }
            Msg::Prefer { template } => {
                if template != self.scheduled_template {
                    self.scheduled_template = template;
                    self.keep_armed();
                }
            }
            Msg::Control {
                control,
                session,
                reply,
            } => {
                let result = self.control(control, session);
                self.publish_view();
                let _ = reply.send(result);
            }
            Msg::Marker {
                session,
                title,
                description,
                reply,
            } => {
                let result = self.marker(session, title, description);
                let _ = reply.send(result);
            }
            Msg::Preview {
                device_id,
                video,
                reply,
            } => {
                let result = self.preview(&device_id, video);
                let _ = reply.send(result);
            }
            Msg::Pipeline { session, event } => self.pipeline_event(&session, event),
            Msg::Processed {
                session,
                outputs,
                problems,
            } => self.processed(&session, outputs, problems),
            Msg::Device(event) => self.device_event(&event),
            Msg::Test {
                template,
                duration,
                reply,
            } => {
                let result = self.test(&template, duration);
                let _ = reply.send(result);
            }
            Msg::ResetMedia { reply } => {
                let result = self.reset_media();
                let _ = reply.send(result);
            }
            Msg::Shutdown { .. } => unreachable!("handled in run"),
        }
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    fn publish_view(&self) {
        let sessions = self.sessions.values().map(|s| s.view.clone()).collect();
        self.view
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .sessions = sessions;
    }

    fn announce(&self, session: &Session) {
        self.deps.bus.publish(Event::CaptureState {
            session_id: session.view.id.clone(),
            state: session.view.state,
            media_package_id: session.package.id.clone(),
            error: session.view.error.clone(),
        });
    }

    fn active(&self) -> usize {
        self.sessions
            .values()
            .filter(|s| s.view.is_active())
            .count()
    }

    /// The template a request names, or the `defaultTemplate` setting.
    fn template(&self, wanted: Option<&str>) -> Result<Template, CaptureError> {
        let default = self.deps.settings.default_template();
        let key = wanted
            .map(str::to_string)
            .or(default)
            .ok_or(CaptureError::NoTemplate)?;
        Ok(self.block_on(self.deps.templates.get(&key))?)
    }

    /// What to keep armed: the default template, else the one used last, else `lecture`,
    /// else the first one.
    fn template_to_arm(&self) -> Option<Template> {
        if let Some(id) = &self.scheduled_template
            && let Ok(t) = self.template(Some(id))
        {
            return Some(t);
        }
        if let Ok(t) = self.template(None) {
            return Some(t);
        }
        let all = self.block_on(self.deps.templates.list()).ok()?;
        let pick = |id: &str| all.iter().find(|t| t.id == id).cloned();
        self.last_template
            .as_deref()
            .and_then(pick)
            .or_else(|| pick("lecture"))
            .or_else(|| all.first().cloned())
    }

    fn usable_bytes(&self) -> u64 {
        crate::sys::disk::usage(&self.deps.media_dir)
            .map(|u| {
                u.available
                    .saturating_sub(self.deps.settings.disk_reserve_bytes())
            })
            .unwrap_or(0)
    }

    /// Builds and starts the pipeline of `template` with its gate closed.
    fn prepare(&self, template: &Template) -> Result<Prepared, CaptureError> {
        let graph = normalised(template)?;
        let id = packages::new_id();
        let dir = self.deps.packages.dir(&id);
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join(STAGING_MARK), b""))
            .map_err(|e| CaptureError::Pipeline(format!("cannot create {}: {e}", dir.display())))?;
        let resolved = sources::resolve(&graph, &self.deps.devices);
        let plan = compile::compile(
            &graph,
            &resolved.specs,
            &self.deps.env,
            &dir,
            self.deps.settings.preview_interval_ms(),
        )
        .map_err(|e| CaptureError::Pipeline(e.to_string()))?;
        let tx = self.tx.clone();
        let sid = id.clone();
        let pipeline = SessionPipeline::start(
            plan,
            &id,
            Box::new(move |event| {
                let _ = tx.send(Msg::Pipeline {
                    session: sid.clone(),
                    event,
                });
            }),
        )
        .map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            CaptureError::Pipeline(e)
        })?;
        let mut template = template.clone();
        template.graph = graph;
        Ok(Prepared {
            id,
            dir,
            template,
            resolved,
            pipeline: Arc::new(pipeline),
        })
    }

    /// The armed pipeline, if it is for `template` and its sources are still the ones the
    /// template resolves to now.
    fn take_armed(&mut self, template: &Template) -> Option<Prepared> {
        let armed = self.armed.take()?;
        let same_template = armed.template.id == template.id
            && normalised(template).ok().as_ref() == Some(&armed.template.graph);
        if same_template
            && sources::resolve(&armed.template.graph, &self.deps.devices) == armed.resolved
        {
            Some(armed)
        } else {
            self.disarm(armed);
            None
        }
    }

    fn disarm(&self, armed: Prepared) {
        armed.pipeline.shutdown();
        let _ = std::fs::remove_dir_all(&armed.dir);
    }

    fn start(
        &mut self,
        request: CaptureRequest,
        origin: Origin,
    ) -> Result<CaptureStatus, CaptureError> {
        let asked = Instant::now();
        validate_request(&request)?;
        // A session whose stop time has come ends first, so back-to-back events follow on.
        self.stop_due_sessions();
        let Origin {
            event_id,
            stop_at,
            template: given,
            overrides_by_administrator,
        } = origin;
        if !self.deps.settings.concurrent_captures() && self.active() > 0 {
            return Err(CaptureError::AlreadyRunning);
        }
        let template = match given {
            Some(t) => *t,
            None => self.template(request.template_id.as_deref())?,
        };
        let duration = match stop_at {
            Some(at) => Some((at - crate::sys::time::now_ms()).max(0)),
            None => request.duration.or(template.defaults.duration),
        };
        let bitrate = graph_bitrate(&template.graph);
        // Room for the whole duration (two hours when open-ended), plus the margin kept at the end.
        let seconds = duration.map_or(7200, |d| (d / 1000) as u64) + DISK_MARGIN_SECS;
        let needed = bitrate / 8 * seconds;
        let usable = self.usable_bytes();
        if usable < needed {
            return Err(CaptureError::DiskLow { needed, usable });
        }

        self.last_template = Some(template.id.clone());
        let hot = self.take_armed(&template);
        let was_hot = hot.is_some();
        let prepared = match hot {
            Some(p) => p,
            None => {
                // Devices the armed pipeline holds must be free for the new one.
                if let Some(armed) = self.armed.take() {
                    self.disarm(armed);
                }
                self.close_previews();
                self.prepare(&template)?
            }
        };
        let started = prepared
            .pipeline
            .record(true, Duration::from_secs(3))
            .ok_or_else(|| CaptureError::Pipeline("the recording did not start within 3 s".into()));
        let started = match started {
            Ok(at) => at,
            Err(e) => {
                self.disarm(prepared);
                return Err(e);
            }
        };
        let _ = std::fs::remove_file(prepared.dir.join(STAGING_MARK));
        log::info!(
            "capture {} started ({}), template {}",
            prepared.id,
            if was_hot { "hot inputs" } else { "cold start" },
            template.id
        );

        let now_ms = crate::sys::time::now_ms();
        // The session starts when its first frame passed the gate, not when it was asked.
        let started_wall = now_ms
            - Instant::now()
                .saturating_duration_since(started)
                .as_millis() as i64;
        let mut tags = request.tags.clone();
        for t in &template.defaults.tags {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        let title = request
            .title
            .clone()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| {
                title_from(
                    template
                        .defaults
                        .title_pattern
                        .as_deref()
                        .unwrap_or("{template} {date} {time}"),
                    &template.name,
                    &self.deps.settings.timezone(),
                )
            });
        let plan: &Plan = prepared.pipeline.plan();
        let outputs: BTreeMap<String, String> = plan
            .recorders
            .iter()
            .map(|r| (r.node.clone(), r.file.clone()))
            .collect();
        let package = MediaPackage {
            id: prepared.id.clone(),
            title: title.clone(),
            creation_date: now_ms,
            root: prepared.dir.to_string_lossy().into_owned(),
            outputs: BTreeMap::new(),
            sources: prepared
                .resolved
                .sources
                .iter()
                .map(|s| (s.node_id.clone(), s.clone()))
                .collect(),
            publishing: Map::new(),
            processing: crate::templates::masked(&prepared.template).graph,
            state: PackageState::Capturing,
            duration: 0,
            tags,
            metadata: request.metadata.clone(),
            speaker: crate::model::speaker::speaker_number(request.speaker_info.as_ref()),
            speaker_info: request.speaker_info.clone(),
            template_id: template.id.clone(),
            event_id: event_id.clone(),
            markers: Vec::new(),
            error: None,
            publishing_overrides_by_administrator: overrides_by_administrator
                && request.publishing_overrides.is_some(),
            request,
        };
        let view = SessionView {
            id: prepared.id.clone(),
            state: CaptureState::Capturing,
            title,
            template_id: template.id.clone(),
            event_id,
            started_wall,
            timeline: Timeline::running(started),
            recorded: None,
            stop_at: stop_at.or_else(|| duration.map(|d| now_ms + d)),
            error: None,
            pipeline: Some(prepared.pipeline.clone()),
            node_kinds: prepared
                .template
                .graph
                .nodes
                .iter()
                .map(|n| (n.id.clone(), n.kind))
                .collect(),
            node_devices: prepared.resolved.devices.clone(),
            lost_since: BTreeMap::new(),
            encoders: plan.encoders.iter().map(|e| e.to_string()).collect(),
            outputs,
            dir: prepared.dir.clone(),
            bitrate,
            hot_start: was_hot,
            start_latency: started.saturating_duration_since(asked),
        };
        let session = Session {
            view,
            recorders: plan.recorders.clone(),
            root: prepared.template.graph.root.clone(),
            package,
            early: None,
        };
        if let Err(e) = self.block_on(self.deps.packages.save(&session.package)) {
            log::error!("cannot store package {}: {e}", session.package.id);
        }
        // Faults that were already there (a test device unplugged) apply from the start.
        for (node, device) in &session.view.node_devices {
            if let Some(d) = self.deps.devices.get(device) {
                apply_device(&prepared.pipeline, node, &d);
            }
        }
        let status = session.view.status(Instant::now(), now_ms);
        self.announce(&session);
        self.sessions.insert(prepared.id.clone(), session);
        Ok(status)
    }

    /// The session a call means: the one named, else the only active one.
    fn pick(&self, wanted: Option<String>) -> Result<String, CaptureError> {
        match wanted {
            Some(id) => self
                .sessions
                .get(&id)
                .map(|s| s.view.id.clone())
                .ok_or(CaptureError::SessionNotFound(id)),
            None => {
                let active: Vec<&String> = self
                    .sessions
                    .iter()
                    .filter(|(_, s)| s.view.is_active())
                    .map(|(id, _)| id)
                    .collect();
                match active.as_slice() {
                    [] => Err(CaptureError::Idle),
                    [one] => Ok((*one).clone()),
                    _ => Err(CaptureError::SessionRequired),
                }
            }
        }
    }

    fn control(
        &mut self,
        control: Control,
        session: Option<String>,
    ) -> Result<CaptureStatus, CaptureError> {
        let id = self.pick(session)?;
        let now = Instant::now();
        let state_name = |s: CaptureState| {
            serde_json::to_value(s)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        match control {
            Control::Stop => {
                let state = self.sessions[&id].view.state;
                if !matches!(
                    state,
                    CaptureState::Capturing | CaptureState::Paused | CaptureState::Starting
                ) {
                    return Err(CaptureError::NotCapturing(state_name(state)));
                }
                self.stop(&id, None);
            }
            Control::Pause => {
                let session = self.sessions.get_mut(&id).expect("picked");
                if session.view.state != CaptureState::Capturing {
                    return Err(CaptureError::NotCapturing(state_name(session.view.state)));
                }
                if let Some(p) = &session.view.pipeline {
                    p.record(false, Duration::ZERO);
                }
                session.view.timeline.pause(now);
                session.view.state = CaptureState::Paused;
                let s = &self.sessions[&id];
                self.announce(s);
            }
            Control::Resume => {
                let session = self.sessions.get_mut(&id).expect("picked");
                if session.view.state != CaptureState::Paused {
                    return Err(CaptureError::NotPaused(state_name(session.view.state)));
                }
                let resumed = session
                    .view
                    .pipeline
                    .as_ref()
                    .and_then(|p| {
                        let at = p.record(true, Duration::from_secs(3));
                        p.force_keyframe();
                        at
                    })
                    .unwrap_or(now);
                session.view.timeline.resume(resumed);
                session.view.state = CaptureState::Capturing;
                let s = &self.sessions[&id];
                self.announce(s);
            }
            Control::Extend(by) => {
                let session = self.sessions.get_mut(&id).expect("picked");
                if !session.view.is_active() {
                    return Err(CaptureError::NotCapturing(state_name(session.view.state)));
                }
                if !(1..=86_400_000).contains(&by) {
                    return Err(CaptureError::InvalidRequest(format!(
                        "duration must be 1 to 86400000 ms, got {by}"
                    )));
                }
                let stop_at = session.view.stop_at.ok_or(CaptureError::NoStopTime)?;
                session.view.stop_at = Some(stop_at + by);
            }
            Control::StopAt(at) => {
                let session = self.sessions.get_mut(&id).expect("picked");
                if !session.view.is_active() {
                    return Err(CaptureError::NotCapturing(state_name(session.view.state)));
                }
                session.view.stop_at = Some(at);
            }
        }
        let session = &self.sessions[&id];
        Ok(session
            .view
            .status(Instant::now(), crate::sys::time::now_ms()))
    }

    fn marker(
        &mut self,
        session: Option<String>,
        title: String,
        description: Option<String>,
    ) -> Result<Marker, CaptureError> {
        let id = self.pick(session)?;
        let session = self.sessions.get_mut(&id).expect("picked");
        if !matches!(
            session.view.state,
            CaptureState::Capturing | CaptureState::Paused
        ) {
            return Err(CaptureError::NotCapturing(
                format!("{:?}", session.view.state).to_lowercase(),
            ));
        }
        if session.package.markers.len() >= super::MAX_MARKERS_PER_SESSION {
            return Err(CaptureError::TooManyMarkers {
                limit: super::MAX_MARKERS_PER_SESSION,
            });
        }
        let marker = Marker {
            time: session.view.recorded_now(Instant::now()).as_millis() as i64,
            title,
            description,
        };
        // The session keeps its list for the manifest written at the next state change; the
        // store gets one appended row, never the whole package again.
        session.package.markers.push(marker.clone());
        let package_id = session.package.id.clone();
        if let Err(e) = self.block_on(self.deps.packages.add_marker(&package_id, &marker)) {
            log::error!("cannot store marker of {id}: {e}");
        }
        self.deps.bus.publish(Event::MarkerAdded {
            session_id: id,
            marker: marker.clone(),
        });
        Ok(marker)
    }

    /// Ends a session: the gate's streams end so the files are complete, then the files are
    /// finalised in the background (`processing`).
    fn stop(&mut self, id: &str, early: Option<Early>) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        if early.is_some() {
            session.early = early;
        }
        session.view.state = CaptureState::Stopping;
        let s = &self.sessions[id];
        self.announce(s);
        let session = self.sessions.get_mut(id).expect("present");
        let now = Instant::now();
        session.view.timeline.stop(now);
        if let Some(pipeline) = session.view.pipeline.take() {
            if let Err(e) = pipeline.finish(Duration::from_secs(15)) {
                log::error!("capture {id}: {e}");
                session.early.get_or_insert(Early {
                    state: PackageState::Partial,
                    reason: e,
                });
            }
            session.view.recorded = Some(pipeline.recorded());
        }
        session.view.state = CaptureState::Processing;
        session.package.state = PackageState::Processing;
        session.package.duration = session.view.recorded_now(now).as_millis() as i64;
        let package = session.package.clone();
        let (dir, recorders, root) = (
            session.view.dir.clone(),
            session.recorders.clone(),
            session.root.clone(),
        );
        let s = &self.sessions[id];
        self.announce(s);
        if let Err(e) = self.block_on(self.deps.packages.save(&package)) {
            log::error!("cannot store package {id}: {e}");
        }
        let tx = self.tx.clone();
        let session_id = id.to_string();
        let spawned = std::thread::Builder::new()
            .name("castd-finalise".into())
            .spawn(move || {
                let (outputs, problems) = finalize_outputs(&dir, &recorders, &root);
                let _ = tx.send(Msg::Processed {
                    session: session_id,
                    outputs,
                    problems,
                });
            });
        if let Err(e) = spawned {
            // Out of threads: the package fails with the reason, the recording stays on disk
            // as written (fragmented MP4, playable), and the engine goes on.
            log::error!("cannot start finalising capture {id}: {e}");
            let _ = self.tx.send(Msg::Processed {
                session: id.to_string(),
                outputs: BTreeMap::new(),
                problems: vec![format!("the recording could not be finalised ({e})")],
            });
            return;
        }
        log::info!("capture {id} stopped; finalising");
    }

    fn processed(&mut self, id: &str, outputs: BTreeMap<String, Output>, problems: Vec<String>) {
        let Some(mut session) = self.sessions.remove(id) else {
            return;
        };
        let package = &mut session.package;
        let main_ok = outputs.contains_key(&session.root);
        package.outputs = outputs;
        package.state = match (&session.early, main_ok) {
            (_, false) => PackageState::Failed,
            (Some(early), true) => early.state,
            (None, true) => PackageState::Complete,
        };
        let mut reasons: Vec<String> = session.early.iter().map(|e| e.reason.clone()).collect();
        reasons.extend(problems);
        package.error = (!reasons.is_empty()).then(|| reasons.join("; "));
        let package = package.clone();
        if let Err(e) = self.block_on(self.deps.packages.save(&package)) {
            log::error!("cannot store package {id}: {e}");
        }
        session.view.state = CaptureState::Idle;
        self.announce(&session);
        log::info!("capture {id} is {:?}", package.state);
    }

    fn pipeline_event(&mut self, id: &str, event: PipelineEvent) {
        if self.armed.as_ref().is_some_and(|a| a.id == id) {
            if let PipelineEvent::Fatal(reason) = event {
                log::warn!("the armed pipeline failed ({reason}); it will be rebuilt");
                if let Some(armed) = self.armed.take() {
                    self.disarm(armed);
                }
            }
            return;
        }
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        match event {
            PipelineEvent::Fatal(reason) => {
                if session.view.is_active() && session.view.state != CaptureState::Stopping {
                    session.view.error = Some(reason.clone());
                    self.deps.bus.publish(Event::Alarm {
                        code: AlarmCode::CaptureFailed,
                        level: AlarmLevel::Error,
                        message: format!("capture {id} failed: {reason}"),
                    });
                    self.stop(
                        id,
                        Some(Early {
                            state: PackageState::Partial,
                            reason,
                        }),
                    );
                }
            }
            PipelineEvent::Signal { node, lost } => {
                if lost {
                    session
                        .view
                        .lost_since
                        .entry(node.clone())
                        .or_insert_with(crate::sys::time::now_ms);
                } else {
                    session.view.lost_since.remove(&node);
                }
                self.deps.bus.publish(Event::NodeSignal {
                    session_id: id.to_string(),
                    node_id: node,
                    lost,
                });
            }
            PipelineEvent::SourceError { node, message } => {
                session
                    .view
                    .lost_since
                    .entry(node.clone())
                    .or_insert_with(crate::sys::time::now_ms);
                // A network stream has no hotplug event to say it is back: it is opened
                // again every few seconds until it answers (its slate records meanwhile).
                let is_stream = session.view.node_kinds.get(&node)
                    == Some(&crate::model::NodeType::NetworkSource)
                    && !session.view.node_devices.contains_key(&node);
                if is_stream && let Some(pipeline) = &session.view.pipeline {
                    let pipeline = Arc::downgrade(pipeline);
                    let retry = node.clone();
                    std::thread::spawn(move || {
                        std::thread::sleep(NETWORK_RETRY);
                        if let Some(pipeline) = pipeline.upgrade() {
                            log::info!("{retry}: opening the network stream again");
                            pipeline.restart_source(&retry, "");
                        }
                    });
                }
                self.deps.bus.publish(Event::Alarm {
                    code: AlarmCode::SourceLost,
                    level: AlarmLevel::Warning,
                    message: format!("{node}: {message}; recording its slate until it returns"),
                });
            }
        }
    }

    /// A device changed: sessions and the armed pipeline using it follow (a simulated fault
    /// blocks the source; a real device that came back is reopened).
    fn device_event(&mut self, event: &Event) {
        let device = match event {
            Event::DeviceAdded { device }
            | Event::DeviceRemoved { device }
            | Event::DeviceChanged { device } => device,
            _ => return,
        };
        let mut users: Vec<(Arc<SessionPipeline>, String, bool)> = Vec::new();
        for session in self.sessions.values() {
            if let Some(p) = &session.view.pipeline {
                for (node, d) in &session.view.node_devices {
                    if *d == device.id {
                        users.push((
                            p.clone(),
                            node.clone(),
                            session.view.lost_since.contains_key(node),
                        ));
                    }
                }
            }
        }
        if let Some(armed) = &self.armed {
            for (node, d) in &armed.resolved.devices {
                if *d == device.id {
                    users.push((armed.pipeline.clone(), node.clone(), false));
                }
            }
        }
        for (pipeline, node, lost) in users {
            if device.plugin == "test" {
                apply_device(&pipeline, &node, device);
            } else if device.present && lost && matches!(event, Event::DeviceAdded { .. }) {
                log::info!("device {} is back; reopening it for {node}", device.id);
                pipeline.restart_source(&node, &device.path);
            }
        }
    }

    fn preview(
        &mut self,
        device_id: &str,
        video: bool,
    ) -> Result<(Arc<SessionPipeline>, String), CaptureError> {
        let device = self
            .deps
            .devices
            .get(device_id)
            .ok_or_else(|| CaptureError::NoPreview(format!("no device {device_id:?}")))?;
        if (device.kind == crate::model::DeviceType::Video) != video {
            return Err(CaptureError::NoPreview(format!(
                "{device_id} is not a {} device",
                if video { "video" } else { "audio" }
            )));
        }
        // A device a pipeline already uses is previewed from that pipeline.
        for session in self.sessions.values() {
            if let Some(p) = &session.view.pipeline
                && let Some((node, _)) = session
                    .view
                    .node_devices
                    .iter()
                    .find(|(_, d)| **d == device.id)
            {
                return Ok((p.clone(), node.clone()));
            }
        }
        if let Some(armed) = &self.armed
            && let Some((node, _)) = armed
                .resolved
                .devices
                .iter()
                .find(|(_, d)| **d == device.id)
        {
            return Ok((armed.pipeline.clone(), node.clone()));
        }
        if let Some(preview) = self.previews.get_mut(device_id) {
            preview.last_used = Instant::now();
            return Ok((preview.pipeline.clone(), "device".into()));
        }
        if !device.present {
            return Err(CaptureError::NoPreview(format!("{device_id} is absent")));
        }
        let graph_node = crate::model::Node {
            id: "device".into(),
            kind: if video {
                crate::model::NodeType::VideoDevice
            } else {
                crate::model::NodeType::AudioDevice
            },
            options: Map::new(),
            parents: Vec::new(),
            children: Vec::new(),
            services: Vec::new(),
        };
        let graph = crate::model::Graph {
            id: String::new(),
            name: String::new(),
            root: String::new(),
            nodes: vec![crate::model::Node {
                options: serde_json::json!({"device": device.id, "width": 1280, "height": 720, "framerate": 30})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                ..graph_node
            }],
        };
        let resolved = sources::resolve(&graph, &self.deps.devices);
        let spec = resolved
            .specs
            .get("device")
            .cloned()
            .ok_or_else(|| CaptureError::NoPreview("cannot open".into()))?;
        let plan = compile::device_preview(
            video,
            &spec,
            &self.deps.env,
            self.deps.settings.preview_interval_ms(),
        )
        .map_err(|e| CaptureError::NoPreview(e.to_string()))?;
        let pipeline =
            SessionPipeline::start(plan, &format!("preview-{device_id}"), Box::new(|_| {}))
                .map_err(CaptureError::NoPreview)?;
        let pipeline = Arc::new(pipeline);
        self.previews.insert(
            device_id.to_string(),
            Preview {
                pipeline: pipeline.clone(),
                last_used: Instant::now(),
            },
        );
        Ok((pipeline, "device".into()))
    }

    /// Runs a template with its gate open for `duration`, then throws the files away.
    fn test(
        &mut self,
        template: &Template,
        duration: Duration,
    ) -> Result<crate::model::TestReport, CaptureError> {
        if self.active() > 0 {
            return Err(CaptureError::AlreadyRunning);
        }
        if let Some(armed) = self.armed.take() {
            self.disarm(armed);
        }
        self.close_previews();
        let prepared = self.prepare(template)?;
        let mut errors = Vec::new();
        if prepared
            .pipeline
            .record(true, Duration::from_secs(3))
            .is_none()
        {
            errors.push("the recording did not start within 3 s".to_string());
        }
        std::thread::sleep(duration);
        let view = SessionView {
            id: prepared.id.clone(),
            state: CaptureState::Capturing,
            title: String::new(),
            template_id: template.id.clone(),
            event_id: None,
            started_wall: 0,
            timeline: Timeline::running(Instant::now()),
            recorded: None,
            stop_at: None,
            error: None,
            pipeline: Some(prepared.pipeline.clone()),
            node_kinds: prepared
                .template
                .graph
                .nodes
                .iter()
                .map(|n| (n.id.clone(), n.kind))
                .collect(),
            node_devices: prepared.resolved.devices.clone(),
            lost_since: BTreeMap::new(),
            encoders: prepared
                .pipeline
                .plan()
                .encoders
                .iter()
                .map(|e| e.to_string())
                .collect(),
            outputs: BTreeMap::new(),
            dir: prepared.dir.clone(),
            bitrate: 0,
            hot_start: false,
            start_latency: Duration::ZERO,
        };
        let nodes = super::node_statuses_of(&view);
        let thumbnails = prepared
            .pipeline
            .plan()
            .snapshots
            .keys()
            .filter_map(|node| {
                let snap = prepared.pipeline.snapshot(node)?;
                Some((
                    node.clone(),
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &snap.jpeg),
                ))
            })
            .collect();
        for n in &nodes {
            if let Some(e) = &n.last_error {
                errors.push(format!("{}: {e}", n.node_id));
            }
            if n.buffers == 0
                && !matches!(
                    n.kind,
                    crate::model::NodeType::FileRecorder | crate::model::NodeType::Preview
                )
                && prepared.pipeline.plan().stats.contains_key(&n.node_id)
            {
                errors.push(format!("{}: delivered nothing", n.node_id));
            }
        }
        if let Err(e) = prepared.pipeline.finish(Duration::from_secs(10)) {
            errors.push(e);
        }
        let _ = std::fs::remove_dir_all(&prepared.dir);
        Ok(crate::model::TestReport {
            template_id: template.id.clone(),
            duration: duration.as_millis() as i64,
            ok: errors.is_empty(),
            nodes,
            thumbnails,
            errors,
            encoders: view.encoders,
        })
    }

    fn close_previews(&mut self) {
        for (_, preview) in std::mem::take(&mut self.previews) {
            preview.pipeline.shutdown();
        }
    }

    /// Stops the sessions whose stop time has come.
    fn stop_due_sessions(&mut self) {
        let now_ms = crate::sys::time::now_ms();
        let due: Vec<String> = self
            .sessions
            .values()
            .filter(|s| matches!(s.view.state, CaptureState::Capturing | CaptureState::Paused))
            .filter(|s| s.view.stop_at.is_some_and(|at| at <= now_ms))
            .map(|s| s.view.id.clone())
            .collect();
        for id in due {
            log::info!("capture {id} reached its stop time");
            self.stop(&id, None);
        }
    }

    fn tick(&mut self) {
        self.stop_due_sessions();
        if self.last_disk_check.elapsed() >= Duration::from_secs(5) {
            self.last_disk_check = Instant::now();
            self.guard_disk();
        }

        let idle: Vec<String> = self
            .previews
            .iter()
            .filter(|(_, p)| p.last_used.elapsed() > PREVIEW_IDLE)
            .map(|(id, _)| id.clone())
            .collect();
        for id in idle {
            if let Some(p) = self.previews.remove(&id) {
                p.pipeline.shutdown();
            }
        }

        if self.last_arm_check.elapsed() >= Duration::from_secs(2) {
            self.last_arm_check = Instant::now();
            self.keep_armed();
        }
    }

    /// Stops recordings cleanly before the disk is full.
    fn guard_disk(&mut self) {
        let rate: u64 = self
            .sessions
            .values()
            .filter(|s| s.view.is_active())
            .map(|s| s.view.bitrate)
            .sum();
        if rate == 0 {
            return;
        }
        let usable = self.usable_bytes();
        if usable >= rate / 8 * DISK_MARGIN_SECS {
            return;
        }
        let active: Vec<String> = self
            .sessions
            .values()
            .filter(|s| matches!(s.view.state, CaptureState::Capturing | CaptureState::Paused))
            .map(|s| s.view.id.clone())
            .collect();
        for id in active {
            let message =
                format!("the disk is nearly full ({usable} bytes usable): recording {id} stopped");
            log::error!("{message}");
            self.deps.bus.publish(Event::Alarm {
                code: AlarmCode::DiskFull,
                level: AlarmLevel::Error,
                message: message.clone(),
            });
            self.stop(
                &id,
                Some(Early {
                    state: PackageState::Partial,
                    reason: message,
                }),
            );
        }
    }

    /// Keeps the default template's pipeline running while nothing records, so the next
    /// start only opens its gate. Rebuilt when the template or its devices change.
    fn keep_armed(&mut self) {
        if !self.deps.keep_inputs_hot || self.active() > 0 {
            return;
        }
        let Some(template) = self.template_to_arm() else {
            return;
        };
        if let Some(armed) = &self.armed {
            let current = normalised(&template).ok();
            if armed.template.id == template.id
                && current.as_ref() == Some(&armed.template.graph)
                && sources::resolve(&armed.template.graph, &self.deps.devices) == armed.resolved
            {
                return;
            }
            let old = self.armed.take().expect("checked");
            self.disarm(old);
        }
        // Devices a preview holds would make the armed pipeline fail.
        self.close_previews();
        match self.prepare(&template) {
            Ok(prepared) => {
                log::info!("inputs of template {} are hot", template.id);
                self.armed = Some(prepared);
            }
            Err(e) => log::warn!("cannot keep template {} ready: {e}", template.id),
        }
    }

    /// Drops the armed pipeline and the previews; the armed one is built again by the
    /// next check (after the caller's device rescan), previews when next asked for.
    fn reset_media(&mut self) -> Result<(), CaptureError> {
        if self.active() > 0 {
            return Err(CaptureError::AlreadyRunning);
        }
        if let Some(armed) = self.armed.take() {
            self.disarm(armed);
        }
        self.close_previews();
        self.last_arm_check = Instant::now();
        Ok(())
    }

    fn shutdown(&mut self) {
        let active: Vec<String> = self
            .sessions
            .values()
            .filter(|s| s.view.is_active())
            .map(|s| s.view.id.clone())
            .collect();
        for id in active {
            let Some(session) = self.sessions.get_mut(&id) else {
                continue;
            };
            session.view.timeline.stop(Instant::now());
            if let Some(p) = session.view.pipeline.take() {
                let _ = p.finish(Duration::from_secs(2));
                session.view.recorded = Some(p.recorded());
            }
            // Left in `processing`: the next start finishes the files and marks it partial.
            session.package.state = PackageState::Processing;
            session.package.duration = session.view.recorded_now(Instant::now()).as_millis() as i64;
            let package = session.package.clone();
            let _ = self.block_on(self.deps.packages.save(&package));
            log::warn!(
                "capture {id} interrupted by shutdown; it will be finished at the next start"
            );
        }
        if let Some(armed) = self.armed.take() {
            self.disarm(armed);
        }
        self.close_previews();
    }
}

/// A simulated device's state applied to the pipeline using it: no frames while it is
/// absent or without signal.
fn apply_device(pipeline: &SessionPipeline, node: &str, device: &crate::model::Device) {
    if device.plugin == "test" {
        pipeline.block_source(node, !device.present || device.signal == Signal::None);
    }
}
