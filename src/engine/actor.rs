//! The engine thread: owns the sessions and their pipelines, the armed pipeline, device
//! previews and a template test run, and carries out every state transition. One message
//! at a time, so transitions never interleave.
//!
//! It never waits. A pipeline's answers — data flowing, the gate open, the streams ended —
//! come back as messages; the deadline for each is a time the loop wakes at
//! (`recv_timeout` until the nearest one). What may not happen yet — a command for a
//! session that waits for its pipeline, a start while another session starts or stops, a
//! second template test — is parked and tried again after every message, in arrival order.
//! Package writes, bus events and answers go out through the outbox, in order.
//!
//! The pipelines' control sides never leave this thread; readers get `Readout`s.

use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::arming::{self, ArmHints};
use super::machine::{Command, Phase};
use super::outbox::Outbox;
use super::pipelines::Prepared;
use super::preview::Preview;
use super::session::{Extra, Session};
use super::start::Asked;
use super::test_run::TestRun;
use super::{CaptureError, Deps, View};
use crate::events::Event;
use crate::media::session::{PipelineEvent, Readout};
use crate::model::{
    AlarmCode, AlarmLevel, CaptureStatus, Marker, Output, Signal, Template, TestReport,
};

pub(super) type Reply<T> = oneshot::Sender<Result<T, CaptureError>>;

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
        /// Boxed: a request is large, and every message would be as large as the largest.
        asked: Box<Asked>,
        /// The template, resolved before the message was sent (or why it could not be).
        template: Result<Template, CaptureError>,
        reply: Reply<CaptureStatus>,
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
    NodeService {
        graph: String,
        node: String,
        service: String,
        reply: Reply<serde_json::Value>,
    },
    Preview {
        device_id: String,
        video: bool,
        reply: Reply<(Arc<Readout>, String)>,
    },
    Test {
        template: Template,
        duration: Duration,
        reply: Reply<TestReport>,
    },
    /// Drop the armed pipeline and the previews (refused while a session is active).
    ResetMedia {
        reply: Reply<()>,
    },
    /// The template to keep armed, as the arming task resolved it.
    Arm {
        template: Option<Template>,
    },
    /// An event of the pipeline of `owner` (a session, the armed pipeline, the test run or
    /// a device preview).
    Pipeline {
        owner: String,
        event: PipelineEvent,
    },
    Processed {
        session: String,
        outputs: BTreeMap<String, Output>,
        problems: Vec<String>,
    },
    /// A finished session's package is stored: the session leaves the engine.
    Saved {
        session: String,
    },
    Device(Box<Event>),
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

pub(super) struct Actor {
    pub deps: Deps,
    pub tx: Sender<Msg>,
    view: Arc<RwLock<View>>,
    pub outbox: Outbox,
    pub sessions: BTreeMap<String, Session>,
    pub armed: Option<Prepared>,
    pub previews: BTreeMap<String, Preview>,
    pub test: Option<TestRun>,
    parked: VecDeque<Msg>,
    pub hints: Arc<tokio::sync::watch::Sender<ArmHints>>,
    /// Threads finalising stopped sessions' files.
    pub finalisers: Vec<JoinHandle<()>>,
    pub last_disk_check: Instant,
    /// No pipeline is armed before this (after a media reset).
    pub arm_not_before: Option<Instant>,
    /// Set once asked to shut down: answered when every session has settled.
    shutdown: Option<oneshot::Sender<()>>,
    pub shutting_down: bool,
}

/// What the engine runs beside its thread, for a shutdown to stop and join.
pub(super) struct Running {
    pub thread: JoinHandle<()>,
    pub outbox: tokio::task::JoinHandle<()>,
    /// Tasks that loop until stopped: the device-event forwarder and the arming task.
    pub loops: Vec<tokio::task::JoinHandle<()>>,
    /// The recovery of unfinished packages.
    pub recovery: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops the tasks that loop, then joins the thread and the outbox (which ends after
    /// the thread), each at most until `deadline`.
    pub(super) async fn stop(self, deadline: tokio::time::Instant) {
        let Running {
            thread,
            outbox,
            loops,
            recovery,
        } = self;
        for task in loops.iter().chain([&recovery]) {
            task.abort();
        }
        for task in loops.into_iter().chain([recovery]) {
            let _ = task.await;
        }
        let joined = tokio::task::spawn_blocking(move || thread.join());
        if tokio::time::timeout_at(deadline, joined).await.is_err() {
            log::warn!("the engine thread did not end in time");
        }
        let _ = tokio::time::timeout_at(deadline, outbox).await;
    }
}

/// The loop wakes at least this often (stop times, the disk guard, idle previews).
const TICK: Duration = Duration::from_secs(1);

#[expect(clippy::expect_used, reason = "invariant: the engine thread starts")]
pub(super) fn spawn(
    deps: Deps,
    view: Arc<RwLock<View>>,
    hints: Arc<tokio::sync::watch::Sender<ArmHints>>,
    runtime: &tokio::runtime::Handle,
) -> (Sender<Msg>, Running) {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut loops = vec![runtime.spawn(forward_device_events(deps.bus.clone(), tx.clone()))];
    if deps.keep_inputs_hot {
        loops.push(runtime.spawn(arming::run(
            hints.subscribe(),
            deps.templates.clone(),
            deps.settings.clone(),
            view.clone(),
            tx.clone(),
        )));
    }
    // Prepared-but-unused directories go before anything is armed; unfinished packages are
    // finished in the background so a power cut never delays the next recording.
    deps.packages.remove_staging_dirs();
    let (packages, media_dir, bus) = (
        deps.packages.clone(),
        deps.media_dir.clone(),
        deps.bus.clone(),
    );
    let recovery = runtime.spawn(async move {
        let recovered = super::recovery::recover(&packages, &bus).await;
        if recovered > 0 {
            log::warn!(
                "recovered {recovered} media package(s) in {} left unfinished by an interruption",
                media_dir.display()
            );
        }
    });
    let (outbox, outbox_task) = Outbox::start(deps.packages.clone(), deps.bus.clone(), runtime);
    let actor = Actor {
        deps,
        tx: tx.clone(),
        view,
        outbox,
        sessions: BTreeMap::new(),
        armed: None,
        previews: BTreeMap::new(),
        test: None,
        parked: VecDeque::new(),
        hints,
        finalisers: Vec::new(),
        last_disk_check: Instant::now(),
        arm_not_before: None,
        shutdown: None,
        shutting_down: false,
    };
    let thread = std::thread::Builder::new()
        .name("castd-engine".into())
        .spawn(move || actor.run(rx))
        .expect("the engine thread starts");
    (
        tx,
        Running {
            thread,
            outbox: outbox_task,
            loops,
            recovery,
        },
    )
}

/// Device changes reach the thread as messages.
async fn forward_device_events(bus: crate::events::Bus, tx: Sender<Msg>) {
    let mut events = bus.subscribe();
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
                if tx.send(Msg::Device(Box::new(e.event.clone()))).is_err() {
                    return;
                }
            }
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(_) => return,
        }
    }
}

impl Actor {
    fn run(mut self, rx: Receiver<Msg>) {
        loop {
            match rx.recv_timeout(self.next_wakeup()) {
                Ok(msg) => self.dispatch(msg),
                Err(RecvTimeoutError::Timeout) => {}
                // Cannot happen while this thread holds a sender; if it did, nothing could
                // reach the engine any more.
                Err(RecvTimeoutError::Disconnected) => return,
            }
            self.tick();
            self.retry_parked();
            self.publish_view();
            if self.shutdown_settled() {
                return;
            }
        }
    }

    fn dispatch(&mut self, msg: Msg) {
        if let Some(parked) = self.handle(msg) {
            self.parked.push_back(parked);
        }
    }

    /// Tries the parked messages again, in order, for as long as one of them goes through.
    fn retry_parked(&mut self) {
        loop {
            let before = self.parked.len();
            for msg in std::mem::take(&mut self.parked) {
                self.dispatch(msg);
            }
            if self.parked.is_empty() || self.parked.len() == before {
                return;
            }
        }
    }

    /// Handles one message; returns it when it must wait.
    fn handle(&mut self, msg: Msg) -> Option<Msg> {
        if self.shutting_down
            && matches!(
                msg,
                Msg::Start { .. }
                    | Msg::Test { .. }
                    | Msg::ResetMedia { .. }
                    | Msg::Arm { .. }
                    | Msg::Preview { .. }
            )
        {
            // Dropped: the caller hears that the engine is gone.
            return None;
        }
        match msg {
            Msg::Start {
                asked,
                template,
                reply,
            } => return self.start(asked, template, reply),
            Msg::Control {
                control,
                session,
                reply,
            } => return self.control(control, session, reply),
            Msg::Marker {
                session,
                title,
                description,
                reply,
            } => return self.marker(session, title, description, reply),
            Msg::NodeService {
                graph,
                node,
                service,
                reply,
            } => {
                let _ = reply.send(self.node_service(&graph, &node, &service));
            }
            Msg::Preview {
                device_id,
                video,
                reply,
            } => self.preview(&device_id, video, reply),
            Msg::Test {
                template,
                duration,
                reply,
            } => return self.test(template, duration, reply),
            Msg::ResetMedia { reply } => return self.reset_media(reply),
            Msg::Arm { template } => self.keep_armed(template),
            Msg::Pipeline { owner, event } => return self.pipeline_event(owner, event),
            Msg::Processed {
                session,
                outputs,
                problems,
            } => self.processed(&session, outputs, problems),
            Msg::Saved { session } => {
                self.sessions.remove(&session);
            }
            Msg::Device(event) => self.device_event(&event),
            Msg::Shutdown { reply } => self.begin_shutdown(reply),
        }
        None
    }

    pub(super) fn publish_view(&self) {
        let sessions = self.sessions.values().map(|s| s.view.clone()).collect();
        self.view
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .sessions = sessions;
    }

    pub(super) fn usable_bytes(&self) -> u64 {
        crate::sys::disk::usage(&self.deps.media_dir)
            .map(|u| {
                u.available
                    .saturating_sub(self.deps.settings.disk_reserve_bytes())
            })
            .unwrap_or(0)
    }

    /// The phases of the sessions there are.
    pub(super) fn phases(&self) -> impl Iterator<Item = Phase> + '_ {
        self.sessions.values().map(|s| s.phase)
    }

    /// The nearest time something is due: a pipeline's deadline, a stop time, a network
    /// source to open again, the armed pipeline's or a preview's first data, a test step.
    fn next_wakeup(&self) -> Duration {
        let now = Instant::now();
        let now_ms = crate::sys::time::now_ms();
        let mut next = now + TICK;
        for session in self.sessions.values() {
            for due in session.deadlines(now, now_ms) {
                next = next.min(due);
            }
        }
        if let Some(armed) = self.armed.as_ref().filter(|a| !a.is_flowing()) {
            next = next.min(armed.flowing_by);
        }
        for preview in self.previews.values() {
            if let Some(due) = preview.deadline() {
                next = next.min(due);
            }
        }
        if let Some(test) = &self.test {
            next = next.min(test.deadline());
        }
        next.saturating_duration_since(now)
    }

    fn tick(&mut self) {
        let now = Instant::now();
        let expired: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.wait.as_ref().is_some_and(|w| w.until <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.apply(&id, Command::WaitExpired, Extra::default());
        }
        for session in self.sessions.values_mut() {
            session.open_sources_again(now);
        }
        self.stop_due_sessions();
        if self.last_disk_check.elapsed() >= Duration::from_secs(5) {
            self.last_disk_check = Instant::now();
            self.guard_disk();
        }
        self.expire_previews(now);
        self.expire_armed(now);
        self.step_test(now);
        self.finalisers.retain(|f| !f.is_finished());
    }

    /// What a pipeline said, routed to its owner.
    fn pipeline_event(&mut self, owner: String, event: PipelineEvent) -> Option<Msg> {
        if self.armed.as_ref().is_some_and(|a| a.id == owner) {
            self.armed_event(event);
            return None;
        }
        if self.test.as_ref().is_some_and(|t| t.id() == owner) {
            self.test_event(event);
            return None;
        }
        if self.sessions.contains_key(&owner) {
            return self.session_event(&owner, event);
        }
        self.preview_event(&owner, event);
        None
    }

    fn session_event(&mut self, id: &str, event: PipelineEvent) -> Option<Msg> {
        match event {
            PipelineEvent::Flowing => {
                self.apply(id, Command::Flowing, Extra::default());
            }
            PipelineEvent::GateOpen { at, opening } => {
                if self.sessions[id].awaits_opening(opening) {
                    self.apply(id, Command::GateOpen, Extra::at(at));
                }
            }
            PipelineEvent::Ended => {
                self.apply(id, Command::Ended, Extra::default());
            }
            PipelineEvent::Fatal(error) => {
                if self.sessions[id].phase == Phase::Resuming {
                    // The resume settles first; the failure is handled against its outcome.
                    return Some(Msg::Pipeline {
                        owner: id.to_string(),
                        event: PipelineEvent::Fatal(error),
                    });
                }
                self.pipeline_failed(id, error);
            }
            PipelineEvent::Signal { node, lost } => {
                if let Some(session) = self.sessions.get_mut(id) {
                    session.signal(&node, lost);
                }
                self.outbox.announce(Event::NodeSignal {
                    session_id: id.to_string(),
                    node_id: node,
                    lost,
                });
            }
            PipelineEvent::SourceError { node, message } => {
                if let Some(session) = self.sessions.get_mut(id) {
                    session.source_failed(&node);
                }
                self.outbox.announce(Event::Alarm {
                    code: AlarmCode::SourceLost,
                    level: AlarmLevel::Warning,
                    message: format!("{node}: {message}; recording its slate until it returns"),
                });
            }
        }
        None
    }

    /// A device changed: sessions and the armed pipeline using it follow (a
    /// simulated fault blocks the source; a real device that came back is reopened).
    fn device_event(&mut self, event: &Event) {
        let device = match event {
            Event::DeviceAdded { device }
            | Event::DeviceRemoved { device }
            | Event::DeviceChanged { device } => device,
            _ => return,
        };
        let came_back = device.present && matches!(event, Event::DeviceAdded { .. });
        for session in self.sessions.values_mut() {
            let Some(pipeline) = session.pipeline.as_mut() else {
                continue;
            };
            for (node, d) in &session.view.node_devices {
                if *d != device.id {
                    continue;
                }
                if device.plugin == "test" {
                    apply_device(pipeline, node, device);
                } else if came_back && session.view.lost_since.contains_key(node) {
                    log::info!("device {} is back; reopening it for {node}", device.id);
                    pipeline.restart_source(node, &device.path);
                }
            }
        }
        if let Some(armed) = self.armed.as_mut() {
            for (node, d) in &armed.resolved.devices {
                if *d == device.id {
                    apply_device(&mut armed.pipeline, node, device);
                }
            }
        }
    }

    fn begin_shutdown(&mut self, reply: oneshot::Sender<()>) {
        self.shutdown = Some(reply);
        self.shutting_down = true;
        // Whatever waits for a session that will not come now hears that the engine is
        // gone.
        self.parked.clear();
        self.abort_test();
        let ids: Vec<String> = self.sessions.keys().cloned().collect();
        for id in ids {
            self.interrupt(&id);
        }
    }

    /// Once asked to shut down: true when no session waits for its pipeline any more, after
    /// the armed pipeline and previews are gone and the caller is told (once the outbox is
    /// done).
    fn shutdown_settled(&mut self) -> bool {
        if self.shutdown.is_none() || self.sessions.values().any(|s| s.phase.is_waiting()) {
            return false;
        }
        self.free_devices();
        if let Some(reply) = self.shutdown.take() {
            self.outbox.then(move || {
                let _ = reply.send(());
            });
        }
        true
    }
}

/// A simulated device's state applied to the pipeline using it: no frames while it is
/// absent or without signal.
pub(super) fn apply_device(
    pipeline: &mut crate::media::session::SessionPipeline,
    node: &str,
    device: &crate::model::Device,
) {
    if device.plugin == "test" {
        pipeline.block_source(node, !device.present || device.signal == Signal::None);
    }
}
