//! A running capture pipeline: sources live from the moment it is built ("armed"), the
//! record gate opened and closed for start, pause and resume, finished with EOS so every
//! file is complete. Around that: JPEG snapshots, audio levels, per-node counters and
//! signal state, source faults that are survived instead of ending the recording.
//!
//! The pipeline is watched by one thread that reads its bus, updates rates once a second
//! and reports what the engine must know (a fatal error, a lost or regained signal, EOS).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::build::{self, Built};
use super::durability::{self, Syncer};
use super::rtmp::RtmpOutput;
use crate::graph::plan::Plan;
use crate::model::AudioLevels;

/// What the session tells its owner.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineEvent {
    /// The pipeline cannot go on.
    Fatal(String),
    /// A source stopped delivering or came back; its slate (or silence) covers the gap.
    Signal { node: String, lost: bool },
    /// A source element failed (the device went away); the node runs on its slate.
    SourceError { node: String, message: String },
}

/// Where a pipeline reports its events.
pub type EventSink = Box<dyn Fn(PipelineEvent) + Send + 'static>;

/// The latest JPEG of a video node.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub jpeg: Bytes,
    pub taken: Instant,
}

#[derive(Default)]
struct Counter {
    buffers: AtomicU64,
    bytes: AtomicU64,
    dropped: AtomicU64,
}

/// Counters of one node as of the last tick.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeFigures {
    pub buffers: u64,
    pub fps: f64,
    pub dropped: u64,
    pub bitrate: u64,
    /// The fallback is active: the node shows its slate (or plays silence).
    pub on_fallback: bool,
    pub last_error: Option<String>,
}

#[derive(Default)]
struct Shared {
    snapshots: Mutex<HashMap<String, Snapshot>>,
    levels: Mutex<HashMap<String, AudioLevels>>,
    figures: Mutex<HashMap<String, NodeFigures>>,
    /// Set once data reached the gate (the pipeline really runs).
    flowing: (Mutex<bool>, Condvar),
    /// When the gate passed its first buffer after opening; cleared when it closes.
    recording: (Mutex<Option<Instant>>, Condvar),
    awaiting_record: AtomicBool,
    /// Set once the gate was told to record: the next main-stream buffer at the gate marks
    /// where recording starts.
    gate_arming: AtomicBool,
    /// Running time (ns) at which the gate's current recording started; `u64::MAX` before.
    gate_start_ns: AtomicU64,
    /// Running time reached by the gate's main output: the recorded duration.
    recorded_ns: AtomicU64,
    stop: AtomicBool,
}

/// A capture pipeline and everything watching it.
pub struct SessionPipeline {
    pipeline: gst::Pipeline,
    elements: HashMap<String, gst::Element>,
    plan: Plan,
    shared: Arc<Shared>,
    blocked: Mutex<HashMap<String, gst::PadProbeId>>,
    watcher: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Live streams, by node.
    streams: HashMap<String, RtmpOutput>,
    /// Keeps the recorded files on the disk while they grow.
    syncer: Mutex<Option<Syncer>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SessionPipeline {
    /// Builds the plan and starts it with the gate closed; returns once data flows.
    pub fn start(plan: Plan, name: &str, events: EventSink) -> Result<SessionPipeline, String> {
        let Built { pipeline, elements } = build::build(&plan, name).map_err(|e| e.to_string())?;
        // One clock for every source: audio devices are slaved to it instead of driving it,
        // so hours of audio and video do not drift apart.
        pipeline.use_clock(Some(&gst::SystemClock::obtain()));
        let shared = Arc::new(Shared::default());
        let session = SessionPipeline {
            pipeline,
            elements,
            plan,
            shared,
            blocked: Mutex::new(HashMap::new()),
            watcher: Mutex::new(None),
            streams: HashMap::new(),
            syncer: Mutex::new(None),
        };
        let mut session = session;
        session.streams = session.attach_streams()?;
        let counters = session.install_taps()?;
        session
            .pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| {
                let reason = session
                    .pending_error()
                    .unwrap_or_else(|| "the pipeline refused to play".into());
                let _ = session.pipeline.set_state(gst::State::Null);
                reason
            })?;
        let watcher = match spawn_watcher(&session, counters, events) {
            Ok(watcher) => watcher,
            Err(e) => {
                session.shutdown();
                return Err(format!("cannot watch the pipeline: {e}"));
            }
        };
        *lock(&session.watcher) = Some(watcher);
        *lock(&session.syncer) = Some(Syncer::start(
            session.recorded_files(),
            durability::SYNC_EVERY,
        ));
        if !session.wait_flowing(Duration::from_secs(10)) {
            let reason = session
                .pending_error()
                .unwrap_or_else(|| "no data reached the recorder within 10 s".into());
            session.shutdown();
            return Err(reason);
        }
        Ok(session)
    }

    fn element(&self, name: &str) -> Option<&gst::Element> {
        self.elements.get(name)
    }

    fn attach_streams(&self) -> Result<HashMap<String, RtmpOutput>, String> {
        let mut streams = HashMap::new();
        for plan in &self.plan.streams {
            let mut sinks = Vec::new();
            for (name, video) in &plan.sinks {
                let sink = self
                    .element(name)
                    .and_then(|e| e.clone().downcast::<gst_app::AppSink>().ok())
                    .ok_or_else(|| format!("{name} is not an appsink"))?;
                sinks.push((sink, *video));
            }
            streams.insert(
                plan.node.clone(),
                RtmpOutput::attach(&plan.node, &plan.location, &plan.shown, plan.enabled, sinks),
            );
        }
        Ok(streams)
    }

    /// The live stream of an `rtmpOutput` node.
    pub fn stream(&self, node: &str) -> Option<&RtmpOutput> {
        self.streams.get(node)
    }

    /// Appsinks keep the latest JPEG, counters count, the gate reports when it records.
    fn install_taps(&self) -> Result<HashMap<String, Arc<Counter>>, String> {
        let mut counters = HashMap::new();
        // One appsink may stand for several nodes (a preview and its source).
        let mut by_sink: HashMap<&String, Vec<String>> = HashMap::new();
        for (node, sink) in &self.plan.snapshots {
            by_sink.entry(sink).or_default().push(node.clone());
        }
        for (sink, nodes) in by_sink {
            let appsink = self
                .element(sink)
                .and_then(|e| e.clone().downcast::<gst_app::AppSink>().ok())
                .ok_or_else(|| format!("{sink} is not an appsink"))?;
            let shared = self.shared.clone();
            appsink.set_callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |sink| {
                        let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                        if let Some(buffer) = sample.buffer()
                            && let Ok(map) = buffer.map_readable()
                        {
                            let snapshot = Snapshot {
                                jpeg: Bytes::copy_from_slice(map.as_slice()),
                                taken: Instant::now(),
                            };
                            let mut snapshots = lock(&shared.snapshots);
                            for node in &nodes {
                                snapshots.insert(node.clone(), snapshot.clone());
                            }
                        }
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            );
        }
        for (node, element) in &self.plan.stats {
            let Some(pad) = self.element(element).and_then(|e| e.static_pad("src")) else {
                continue;
            };
            let counter = Arc::new(Counter::default());
            let c = counter.clone();
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(buffer) = info.buffer() {
                    c.buffers.fetch_add(1, Ordering::Relaxed);
                    c.bytes.fetch_add(buffer.size() as u64, Ordering::Relaxed);
                }
                gst::PadProbeReturn::Ok
            });
            counters.insert(node.clone(), counter);
        }
        // A buffer without a timestamp cannot be placed in a file, and the muxer would fail
        // the whole recording on it: such buffers are dropped (and reported) instead.
        for recorder in &self.plan.recorders {
            let Some(mux) = self
                .plan
                .links
                .iter()
                .find(|l| l.from == recorder.sink || l.to == recorder.sink)
                .and_then(|l| self.element(&l.from))
            else {
                continue;
            };
            for pad in mux.sink_pads() {
                let name = format!("{}.{}", mux.name(), pad.name());
                pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                    match info.buffer() {
                        Some(b) if b.pts().is_none() => {
                            log::warn!(
                                "{name}: dropping a buffer without a timestamp (flags {:?})",
                                b.flags()
                            );
                            gst::PadProbeReturn::Drop
                        }
                        _ => gst::PadProbeReturn::Ok,
                    }
                });
            }
        }
        // The gate asserts (and panics, ending the session) when its main stream's running
        // time goes backwards, which a busy machine has been seen to produce at a start. A
        // video frame that arrives out of order is worth less than the recording: it is
        // dropped before the gate and counted.
        if let Some(pad) = self
            .plan
            .gate
            .as_ref()
            .and_then(|g| self.element(g))
            .and_then(|g| g.static_pad("sink"))
        {
            let last = AtomicU64::new(0);
            let dropped = AtomicU64::new(0);
            let shared = self.shared.clone();
            pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                let Some(running) = running_time(pad, info) else {
                    return gst::PadProbeReturn::Ok;
                };
                if shared.gate_arming.swap(false, Ordering::SeqCst) {
                    shared
                        .gate_start_ns
                        .store(running.nseconds().max(1), Ordering::SeqCst);
                }
                let previous = last.fetch_max(running.nseconds(), Ordering::Relaxed);
                if running.nseconds() < previous {
                    let n = dropped.fetch_add(1, Ordering::Relaxed) + 1;
                    if n == 1 || n.is_multiple_of(100) {
                        log::warn!(
                            "dropped {n} video frame(s) arriving out of order at the record gate ({running} after {})",
                            gst::ClockTime::from_nseconds(previous)
                        );
                    }
                    return gst::PadProbeReturn::Drop;
                }
                gst::PadProbeReturn::Ok
            });
        }
        // The gate also asserts when a secondary stream (audio) delivers, after recording
        // began, a buffer that starts before the recording start (a late first buffer at a
        // cold start). Such a buffer would be cut from the file anyway: it is dropped here.
        if let Some(gate) = self.plan.gate.as_ref().and_then(|g| self.element(g)) {
            for pad in gate.sink_pads().into_iter().filter(|p| p.name() != "sink") {
                let shared = self.shared.clone();
                let dropped = AtomicU64::new(0);
                pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                    let start = shared.gate_start_ns.load(Ordering::SeqCst);
                    if start == 0 {
                        return gst::PadProbeReturn::Ok;
                    }
                    let early =
                        running_time(pad, info).filter(|running| running.nseconds() < start);
                    let Some(running) = early else {
                        return gst::PadProbeReturn::Ok;
                    };
                    // Logged, so that how often a start meets this can be counted.
                    let n = dropped.fetch_add(1, Ordering::Relaxed) + 1;
                    if n == 1 || n.is_multiple_of(100) {
                        log::info!(
                            "{}: dropped {n} buffer(s) from before the recording start ({running} before {})",
                            pad.name(),
                            gst::ClockTime::from_nseconds(start)
                        );
                    }
                    gst::PadProbeReturn::Drop
                });
            }
        }
        // Data flows once it reaches the gate (or, without one, the first counted element).
        let flow_pad = match self.plan.gate.as_ref().and_then(|g| self.element(g)) {
            Some(gate) => gate.static_pad("sink"),
            None => self
                .plan
                .stats
                .values()
                .next()
                .and_then(|e| self.element(e))
                .and_then(|e| e.static_pad("src")),
        };
        if let Some(pad) = flow_pad {
            let shared = self.shared.clone();
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                let (flag, cond) = &shared.flowing;
                *lock(flag) = true;
                cond.notify_all();
                gst::PadProbeReturn::Remove
            });
        }
        // The first buffer out of the gate after it opens marks the start of recording. (Not
        // the gate's `recording` notification: it is emitted with the gate's lock held.)
        if let Some(pad) = self
            .plan
            .gate
            .as_ref()
            .and_then(|g| self.element(g))
            .and_then(|g| g.static_pad("src"))
        {
            let shared = self.shared.clone();
            pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                if shared.awaiting_record.swap(false, Ordering::SeqCst) {
                    let (at, cond) = &shared.recording;
                    *lock(at) = Some(Instant::now());
                    cond.notify_all();
                }
                // The gate leaves paused spans out of its output's running time, so where
                // its output has got to is exactly how much has been recorded.
                if let Some(buffer) = info.buffer()
                    && let Some(pts) = buffer.pts()
                    && let Some(segment) = pad.sticky_event::<gst::event::Segment>(0)
                    && let Some(segment) = segment.segment().downcast_ref::<gst::ClockTime>()
                    && let Some(running) = segment.to_running_time(pts)
                {
                    let end = running + buffer.duration().unwrap_or(gst::ClockTime::ZERO);
                    shared
                        .recorded_ns
                        .fetch_max(end.nseconds(), Ordering::Relaxed);
                }
                gst::PadProbeReturn::Ok
            });
        }
        Ok(counters)
    }

    fn wait_flowing(&self, timeout: Duration) -> bool {
        let (flag, cond) = &self.shared.flowing;
        let guard = lock(flag);
        let (guard, _) = cond
            .wait_timeout_while(guard, timeout, |f| !*f)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard
    }

    /// The first error waiting on the bus, if any.
    fn pending_error(&self) -> Option<String> {
        let bus = self.pipeline.bus()?;
        while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(e) = msg.view() {
                return Some(format!(
                    "{}: {}",
                    msg.src().map(|s| s.name().to_string()).unwrap_or_default(),
                    e.error()
                ));
            }
        }
        None
    }

    /// Opens or closes the record gate. Opening returns when the gate records (or after
    /// `timeout`), with the instant it started.
    pub fn record(&self, on: bool, timeout: Duration) -> Option<Instant> {
        let gate = self.plan.gate.as_ref().and_then(|g| self.element(g))?;
        let (at, cond) = &self.shared.recording;
        *lock(at) = None;
        self.shared.awaiting_record.store(on, Ordering::SeqCst);
        gate.set_property("record", on);
        if on {
            // After the property: the buffer that marks the start is then at or after the
            // gate's own start, never before it.
            self.shared.gate_arming.store(true, Ordering::SeqCst);
        } else {
            return None;
        }
        let guard = lock(at);
        let (guard, _) = cond
            .wait_timeout_while(guard, timeout, |a| a.is_none())
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard
    }

    /// Asks every video encoder for a keyframe, so a resumed recording starts on one.
    pub fn force_keyframe(&self) {
        for name in &self.plan.video_encoders {
            if let Some(pad) = self.element(name).and_then(|e| e.static_pad("src")) {
                let event = gstreamer_video::UpstreamForceKeyUnitEvent::builder()
                    .all_headers(true)
                    .build();
                pad.send_event(event);
            }
        }
    }

    /// Ends the recording: end-of-stream goes into the gate, so the recording ends exactly
    /// there (not when every source, slate and tap has wound down), the muxers complete their
    /// files, and once every file sink has seen the end the pipeline stops.
    pub fn finish(&self, timeout: Duration) -> Result<(), String> {
        let pending = Arc::new((Mutex::new(self.plan.recorders.len()), Condvar::new()));
        for recorder in &self.plan.recorders {
            let Some(pad) = self
                .element(&recorder.sink)
                .and_then(|e| e.static_pad("sink"))
            else {
                continue;
            };
            let pending = pending.clone();
            pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
                if let Some(gst::PadProbeData::Event(event)) = &info.data
                    && event.type_() == gst::EventType::Eos
                {
                    let (left, cond) = &*pending;
                    let mut left = lock(left);
                    *left = left.saturating_sub(1);
                    cond.notify_all();
                    return gst::PadProbeReturn::Remove;
                }
                gst::PadProbeReturn::Ok
            });
        }
        match self.plan.gate.as_ref().and_then(|g| self.element(g)) {
            Some(gate) => {
                for pad in gate.sink_pads() {
                    pad.send_event(gst::event::Eos::new());
                }
            }
            None => {
                self.pipeline.send_event(gst::event::Eos::new());
            }
        }
        let (left, cond) = &*pending;
        let guard = lock(left);
        let (guard, _) = cond
            .wait_timeout_while(guard, timeout, |n| *n > 0)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let done = *guard == 0;
        drop(guard);
        self.shutdown();
        if done {
            Ok(())
        } else {
            Err(format!(
                "the recording did not end within {} s",
                timeout.as_secs()
            ))
        }
    }

    /// Stops the pipeline and its watcher at once.
    pub fn shutdown(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for stream in self.streams.values() {
            stream.shutdown();
        }
        let _ = self.pipeline.set_state(gst::State::Null);
        if let Some(handle) = lock(&self.watcher).take() {
            let _ = handle.join();
        }
        if let Some(mut syncer) = lock(&self.syncer).take() {
            syncer.stop();
        }
    }

    /// Whether the pipeline was shut down (it delivers nothing more).
    pub fn is_shut_down(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
    }

    /// The files the recorders write, from their sinks' locations.
    fn recorded_files(&self) -> Vec<std::path::PathBuf> {
        self.plan
            .recorders
            .iter()
            .filter_map(|r| self.element(&r.sink))
            .filter_map(|sink| sink.property::<Option<String>>("location"))
            .map(std::path::PathBuf::from)
            .collect()
    }

    /// How much has been recorded: the media time the gate let through, pauses left out.
    pub fn recorded(&self) -> Duration {
        Duration::from_nanos(self.shared.recorded_ns.load(Ordering::Relaxed))
    }

    pub fn snapshot(&self, node: &str) -> Option<Snapshot> {
        lock(&self.shared.snapshots).get(node).cloned()
    }

    pub fn levels(&self, node: &str) -> Option<AudioLevels> {
        lock(&self.shared.levels).get(node).cloned()
    }

    pub fn figures(&self) -> HashMap<String, NodeFigures> {
        lock(&self.shared.figures).clone()
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Drops (or lets through again) everything a source produces, as if its device were
    /// gone; the slate takes over. Used for simulated faults.
    pub fn block_source(&self, node: &str, blocked: bool) {
        let Some(fallback) = self.plan.fallbacks.get(node) else {
            return;
        };
        let Some(pad) = self
            .element(&fallback.source)
            .and_then(|e| e.static_pad("src"))
        else {
            return;
        };
        let mut probes = lock(&self.blocked);
        match (blocked, probes.remove(node)) {
            (true, None) => {
                if let Some(id) =
                    pad.add_probe(gst::PadProbeType::BUFFER, |_, _| gst::PadProbeReturn::Drop)
                {
                    probes.insert(node.to_string(), id);
                }
            }
            (true, Some(id)) => {
                probes.insert(node.to_string(), id);
            }
            (false, Some(id)) => pad.remove_probe(id),
            (false, None) => {}
        }
    }

    /// Restarts a source whose device went away and came back (maybe under a new path).
    pub fn restart_source(&self, node: &str, device_path: &str) {
        if self.shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Some(fallback) = self.plan.fallbacks.get(node) else {
            return;
        };
        let chain: Vec<&gst::Element> = self
            .plan
            .elements
            .iter()
            .filter(|e| {
                e.node == node
                    && !e.name.starts_with(&format!("{node}-slate"))
                    && !e.name.starts_with(&format!("{node}-silence"))
            })
            .filter(|e| {
                e.name != fallback.mixer
                    && !e.name.ends_with("-out")
                    && !e.name.starts_with(&format!("{node}-tee"))
                    && !e.name.starts_with(&format!("{node}-snap"))
                    && !e.name.starts_with(&format!("{node}-level"))
            })
            .filter_map(|e| self.element(&e.name))
            .collect();
        for element in &chain {
            let _ = element.set_state(gst::State::Null);
        }
        if let Some(src) = self.element(&fallback.source)
            && src.find_property("device").is_some()
            && !device_path.is_empty()
        {
            src.set_property("device", device_path);
        }
        for element in chain.iter().rev() {
            if let Err(e) = element.sync_state_with_parent() {
                log::warn!("cannot restart {}: {e}", element.name());
            }
        }
        if let Some(f) = lock(&self.shared.figures).get_mut(node) {
            f.last_error = None;
        }
    }
}

/// The running time at which a probed buffer starts, from its timestamp and the pad's
/// segment; `None` without either.
fn running_time(pad: &gst::Pad, info: &gst::PadProbeInfo) -> Option<gst::ClockTime> {
    let pts = info.buffer()?.pts()?;
    let segment = pad.sticky_event::<gst::event::Segment>(0)?;
    segment
        .segment()
        .downcast_ref::<gst::ClockTime>()?
        .to_running_time(pts)
}

impl Drop for SessionPipeline {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// What the watcher thread needs, moved into it.
struct Watch {
    bus: gst::Bus,
    shared: Arc<Shared>,
    counters: HashMap<String, Arc<Counter>>,
    /// element name → node.
    owners: HashMap<String, String>,
    /// Nodes guarded by a slate or silence.
    guarded: std::collections::HashSet<String>,
    levels: HashMap<String, String>,
    events: EventSink,
}

fn spawn_watcher(
    session: &SessionPipeline,
    counters: HashMap<String, Arc<Counter>>,
    events: EventSink,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let watch = Watch {
        bus: session.pipeline.bus().expect("a pipeline has a bus"),
        shared: session.shared.clone(),
        counters,
        owners: session
            .plan
            .elements
            .iter()
            .map(|e| (e.name.clone(), e.node.clone()))
            .collect(),
        guarded: session.plan.fallbacks.keys().cloned().collect(),
        levels: session
            .plan
            .levels
            .iter()
            .map(|(node, element)| (element.clone(), node.clone()))
            .collect(),
        events,
    };
    std::thread::Builder::new()
        .name("castd-pipeline".into())
        .spawn(move || watch.run())
}

impl Watch {
    fn run(self) {
        let mut last_tick = Instant::now();
        let mut previous: HashMap<String, (u64, u64)> = HashMap::new();
        while !self.shared.stop.load(Ordering::SeqCst) {
            if let Some(msg) = self.bus.timed_pop(gst::ClockTime::from_mseconds(100)) {
                self.handle(&msg);
            }
            let elapsed = last_tick.elapsed();
            if elapsed >= Duration::from_secs(1) {
                self.tick(elapsed.as_secs_f64(), &mut previous);
                last_tick = Instant::now();
            }
        }
    }

    fn owner(&self, msg: &gst::Message) -> Option<String> {
        let mut object = msg.src().cloned();
        // Errors may come from a child of a bin (a decoder inside uridecodebin).
        while let Some(o) = object {
            if let Some(node) = self.owners.get(o.name().as_str()) {
                return Some(node.clone());
            }
            object = o.parent();
        }
        None
    }

    fn handle(&self, msg: &gst::Message) {
        match msg.view() {
            gst::MessageView::Error(e) => {
                let text = format!("{}", e.error());
                let node = self.owner(msg);
                match node {
                    // A guarded source failing is survivable: its slate covers the gap.
                    Some(node) if self.guarded.contains(&node) => {
                        log::warn!("source {node} failed: {text}");
                        lock(&self.shared.figures)
                            .entry(node.clone())
                            .or_default()
                            .last_error = Some(text.clone());
                        (self.events)(PipelineEvent::SourceError {
                            node,
                            message: text,
                        });
                    }
                    other => {
                        let debug = e.debug().map(|d| d.to_string()).unwrap_or_default();
                        log::error!(
                            "pipeline error in {}: {text} ({debug})",
                            other.as_deref().unwrap_or("?")
                        );
                        if let Some(node) = other {
                            lock(&self.shared.figures)
                                .entry(node)
                                .or_default()
                                .last_error = Some(text.clone());
                        }
                        (self.events)(PipelineEvent::Fatal(text));
                    }
                }
            }
            gst::MessageView::Warning(w) => {
                log::debug!("pipeline warning: {}", w.error());
            }
            gst::MessageView::Qos(q) => {
                let (_, dropped) = q.stats();
                if let (Some(node), gst::GenericFormattedValue::Buffers(Some(n))) =
                    (self.owner(msg), dropped)
                    && let Some(counter) = self.counters.get(&node)
                {
                    counter.dropped.fetch_max(*n, Ordering::Relaxed);
                }
            }
            gst::MessageView::Element(e) => {
                let Some(s) = e.structure() else { return };
                if s.name() != "level" {
                    return;
                }
                let Some(node) = msg
                    .src()
                    .and_then(|src| self.levels.get(src.name().as_str()))
                else {
                    return;
                };
                let values = |field: &str| -> Vec<f64> {
                    s.get::<gst::glib::ValueArray>(field)
                        .map(|a| a.iter().filter_map(|v| v.get::<f64>().ok()).collect())
                        .unwrap_or_default()
                };
                let (peak, rms) = (values("peak"), values("rms"));
                let silent = !peak.is_empty() && peak.iter().all(|p| *p < -60.0);
                lock(&self.shared.levels).insert(node.clone(), AudioLevels { peak, rms, silent });
            }
            _ => {}
        }
    }

    /// Once a second: rates from the counters, and which sources run on their fallback.
    fn tick(&self, seconds: f64, previous: &mut HashMap<String, (u64, u64)>) {
        let mut figures = lock(&self.shared.figures);
        for (node, counter) in &self.counters {
            let buffers = counter.buffers.load(Ordering::Relaxed);
            let bytes = counter.bytes.load(Ordering::Relaxed);
            let (pb, pbytes) = previous
                .insert(node.clone(), (buffers, bytes))
                .unwrap_or((0, 0));
            let f = figures.entry(node.clone()).or_default();
            f.buffers = buffers;
            f.fps = ((buffers - pb) as f64 / seconds * 10.0).round() / 10.0;
            f.bitrate = ((bytes - pbytes) as f64 * 8.0 / seconds) as u64;
            f.dropped = counter.dropped.load(Ordering::Relaxed);
        }
        // A guarded source that delivered nothing for a whole tick has lost its signal; its
        // slate (or silence) is what is recorded meanwhile.
        for node in &self.guarded {
            let f = figures.entry(node.clone()).or_default();
            let on_fallback = f.fps == 0.0;
            if f.on_fallback != on_fallback {
                f.on_fallback = on_fallback;
                (self.events)(PipelineEvent::Signal {
                    node: node.clone(),
                    lost: on_fallback,
                });
            }
        }
    }
}
