//! A running capture pipeline: sources live from the moment it is built ("armed"), the
//! record gate opened and closed for start, pause and resume, ended with EOS so every file
//! is complete. Around that: JPEG snapshots, audio levels, per-node counters and signal
//! state, source faults that are survived instead of ending the recording.
//!
//! Nothing here waits for the media. Whatever takes time — data reaching the gate, the
//! first frame through it after it opens, the end of the streams — is reported as a
//! `PipelineEvent` when it happens, and the owner keeps its own deadlines.
//!
//! A `SessionPipeline` is the control side, owned by one owner (the engine thread), and the
//! only way to change the pipeline. Its `Readout` is what may be shared with readers.

mod readout;
mod taps;
mod watch;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::Error;
use super::build::{self, Built};
use super::durability::{self, Syncer};
use super::rtmp::RtmpOutput;
use crate::graph::plan::Plan;
pub use readout::{NodeFigures, Readout, Snapshot};

/// What a pipeline tells its owner.
#[derive(Debug, Clone)]
pub enum PipelineEvent {
    /// Data reached the gate for the first time: the pipeline really runs.
    Flowing,
    /// The first buffer left the gate after opening number `opening`: recording (again)
    /// since `at`.
    GateOpen { at: Instant, opening: u64 },
    /// Every recorder saw the end of its streams after `end`: the files are complete.
    Ended,
    /// The pipeline cannot go on (an element's error on the bus).
    Fatal(Error),
    /// A source stopped delivering or came back; its slate (or silence) covers the gap.
    Signal { node: String, lost: bool },
    /// A source element failed (the device went away); the node runs on its slate.
    SourceError { node: String, message: String },
}

/// Where a pipeline reports its events. Called from streaming threads: it must not block.
pub type EventSink = Arc<dyn Fn(PipelineEvent) + Send + Sync + 'static>;

/// A capture pipeline and everything watching it.
pub struct SessionPipeline {
    pipeline: gst::Pipeline,
    elements: HashMap<String, gst::Element>,
    plan: Arc<Plan>,
    readout: Arc<Readout>,
    events: EventSink,
    /// Source pads blocked to simulate a fault, by node.
    blocked: HashMap<String, gst::PadProbeId>,
    watcher: Option<JoinHandle<()>>,
    /// Live streams, by node.
    streams: HashMap<String, RtmpOutput>,
    /// Keeps the recorded files on the disk while they grow.
    syncer: Option<Syncer>,
    /// How many times the gate was opened.
    openings: u64,
    ending: bool,
}

impl SessionPipeline {
    /// Builds the plan and starts it with the gate closed. Returns at once:
    /// `PipelineEvent::Flowing` tells when data reaches the gate.
    #[expect(clippy::expect_used, reason = "invariant: a pipeline has a bus")]
    pub fn start(plan: Plan, name: &str, events: EventSink) -> Result<SessionPipeline, Error> {
        let Built { pipeline, elements } = build::build(&plan, name)?;
        // One clock for every source: audio devices are slaved to it instead of driving it,
        // so hours of audio and video do not drift apart.
        pipeline.use_clock(Some(&gst::SystemClock::obtain()));
        let plan = Arc::new(plan);
        let streams = attach_streams(&plan, &elements)?;
        let readout = Arc::new(Readout::new(
            plan.clone(),
            streams
                .iter()
                .map(|(node, s)| (node.clone(), s.readout()))
                .collect(),
        ));
        let counters = taps::Taps {
            elements: &elements,
            plan: &plan,
            readout: &readout,
            events: &events,
        }
        .install()?;
        let mut session = SessionPipeline {
            pipeline,
            elements,
            plan,
            readout,
            events,
            blocked: HashMap::new(),
            watcher: None,
            streams,
            syncer: None,
            openings: 0,
            ending: false,
        };
        if session.pipeline.set_state(gst::State::Playing).is_err() {
            let reason = session
                .pending_error()
                .unwrap_or_else(|| Error::refused("the pipeline refused to play"));
            let _ = session.pipeline.set_state(gst::State::Null);
            return Err(reason);
        }
        let bus = session.pipeline.bus().expect("a pipeline has a bus");
        let watch = watch::Watch::new(
            bus,
            &session.plan,
            session.readout.clone(),
            counters,
            session.events.clone(),
        );
        match watch.spawn() {
            Ok(watcher) => session.watcher = Some(watcher),
            Err(e) => {
                session.halt();
                return Err(Error::io("cannot watch the pipeline", e));
            }
        }
        session.syncer = Some(Syncer::start(
            session.recorded_files(),
            durability::SYNC_EVERY,
        ));
        Ok(session)
    }

    fn element(&self, name: &str) -> Option<&gst::Element> {
        self.elements.get(name)
    }

    fn gate(&self) -> Option<&gst::Element> {
        self.plan.gate.as_ref().and_then(|g| self.element(g))
    }

    /// What readers may see of the pipeline.
    pub fn readout(&self) -> &Arc<Readout> {
        &self.readout
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Turns the live stream of an `rtmpOutput` node on or off; false when the node has none.
    pub fn set_stream_enabled(&self, node: &str, on: bool) -> bool {
        match self.streams.get(node) {
            Some(stream) => {
                stream.set_enabled(on);
                true
            }
            None => false,
        }
    }

    /// The first error waiting on the bus, if any (read before the watcher runs).
    fn pending_error(&self) -> Option<Error> {
        let bus = self.pipeline.bus()?;
        while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(e) = msg.view() {
                return Some(Error::Bus {
                    src: msg.src().map(|s| s.name().to_string()).unwrap_or_default(),
                    error: e.error().to_string(),
                    debug: e.debug().map(|d| d.to_string()),
                });
            }
        }
        None
    }

    /// Opens or closes the record gate. Opening returns its number, which the
    /// `PipelineEvent::GateOpen` that follows carries once a frame passed; `None` when the
    /// pipeline has no gate or the gate closes.
    pub fn record(&mut self, on: bool) -> Option<u64> {
        let gate = self.gate()?.clone();
        let clock = &self.readout.gate;
        let opening = if on {
            self.openings += 1;
            self.openings
        } else {
            0
        };
        clock.awaited_opening.store(opening, Ordering::SeqCst);
        gate.set_property("record", on);
        if !on {
            return None;
        }
        // After the property: the buffer that marks the start is then at or after the
        // gate's own start, never before it.
        clock.arming.store(true, Ordering::SeqCst);
        Some(opening)
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
    /// there (not when every source, slate and tap has wound down), and the muxers complete
    /// their files. `PipelineEvent::Ended` follows once every file sink has seen the end.
    /// The pipeline keeps running until `halt`.
    pub fn end(&mut self) {
        if std::mem::replace(&mut self.ending, true) {
            return;
        }
        let sinks: Vec<gst::Pad> = self
            .plan
            .recorders
            .iter()
            .filter_map(|r| self.element(&r.sink))
            .filter_map(|sink| sink.static_pad("sink"))
            .collect();
        if sinks.is_empty() {
            (self.events)(PipelineEvent::Ended);
        }
        let left = Arc::new(AtomicUsize::new(sinks.len()));
        for pad in sinks {
            let (left, events) = (left.clone(), self.events.clone());
            pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
                if let Some(gst::PadProbeData::Event(event)) = &info.data
                    && event.type_() == gst::EventType::Eos
                {
                    if left.fetch_sub(1, Ordering::SeqCst) == 1 {
                        events(PipelineEvent::Ended);
                    }
                    return gst::PadProbeReturn::Remove;
                }
                gst::PadProbeReturn::Ok
            });
        }
        // Sent from GStreamer's own thread pool: sending an event into a pad waits for the
        // buffer its streaming thread is pushing, and the caller must not wait.
        let (gate, pipeline) = (self.gate().cloned(), self.pipeline.clone());
        let send = move || match gate {
            Some(gate) => gate.call_async(|gate| {
                for pad in gate.sink_pads() {
                    pad.send_event(gst::event::Eos::new());
                }
            }),
            None => pipeline.call_async(|pipeline| {
                pipeline.send_event(gst::event::Eos::new());
            }),
        };
        let hold = eos_hold();
        if hold.is_zero() {
            send();
            return;
        }
        // A held end of stream is sent when the system clock's timer fires.
        let clock = gst::SystemClock::obtain();
        let at = clock.time() + gst::ClockTime::from_nseconds(hold.as_nanos() as u64);
        let timer = clock.new_single_shot_id(at);
        // Shared with the timer so that, if the timer cannot be set, it is sent at once.
        let send = Arc::new(std::sync::Mutex::new(Some(send)));
        let take = |send: &std::sync::Mutex<Option<_>>| send.lock().ok().and_then(|mut s| s.take());
        let on_timer = send.clone();
        if let Err(e) = timer.wait_async(move |_, _, _| {
            if let Some(send) = take(&on_timer) {
                send();
            }
        }) {
            log::warn!("cannot hold the end of stream back ({e:?}); it is sent at once");
            if let Some(send) = take(&send) {
                send();
            }
        }
    }

    /// Stops the pipeline and its watcher at once; the devices are free when it returns.
    /// The files' last sync happens when the pipeline is dropped.
    pub fn halt(&mut self) {
        self.readout.stopped.store(true, Ordering::SeqCst);
        for stream in self.streams.values() {
            stream.shutdown();
        }
        let _ = self.pipeline.set_state(gst::State::Null);
        if let Some(handle) = self.watcher.take() {
            // Woken at once instead of at its next bus poll.
            if let Some(bus) = self.pipeline.bus() {
                let _ = bus.post(
                    gst::message::Application::builder(gst::Structure::new_empty(watch::WAKE))
                        .build(),
                );
            }
            let _ = handle.join();
        }
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

    /// Drops (or lets through again) everything a source produces, as if its device were
    /// gone; the slate takes over. Used for simulated faults.
    pub fn block_source(&mut self, node: &str, blocked: bool) {
        let Some(fallback) = self.plan.fallbacks.get(node) else {
            return;
        };
        let Some(pad) = self
            .element(&fallback.source)
            .and_then(|e| e.static_pad("src"))
        else {
            return;
        };
        match (blocked, self.blocked.remove(node)) {
            (true, None) => {
                if let Some(id) =
                    pad.add_probe(gst::PadProbeType::BUFFER, |_, _| gst::PadProbeReturn::Drop)
                {
                    self.blocked.insert(node.to_string(), id);
                }
            }
            (true, Some(id)) => {
                self.blocked.insert(node.to_string(), id);
            }
            (false, Some(id)) => pad.remove_probe(id),
            (false, None) => {}
        }
    }

    /// Restarts a source whose device went away and came back (maybe under a new path).
    pub fn restart_source(&self, node: &str, device_path: &str) {
        if self.readout.is_shut_down() {
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
        if let Some(f) = self.readout.state().figures.get_mut(node) {
            f.last_error = None;
        }
    }
}

impl Drop for SessionPipeline {
    fn drop(&mut self) {
        self.halt();
        if let Some(mut syncer) = self.syncer.take() {
            syncer.stop();
        }
    }
}

fn attach_streams(
    plan: &Plan,
    elements: &HashMap<String, gst::Element>,
) -> Result<HashMap<String, RtmpOutput>, Error> {
    let mut streams = HashMap::new();
    for stream in &plan.streams {
        let mut sinks = Vec::new();
        for (name, video) in &stream.sinks {
            let sink = elements
                .get(name)
                .and_then(|e| e.clone().downcast::<gst_app::AppSink>().ok())
                .ok_or_else(|| taps::not_an_appsink(name))?;
            sinks.push((sink, *video));
        }
        streams.insert(
            stream.node.clone(),
            RtmpOutput::attach(
                &stream.node,
                &stream.location,
                &stream.shown,
                stream.enabled,
                sinks,
            ),
        );
    }
    Ok(streams)
}

/// How long the end of a recording is held back before it goes into the gate: nothing in
/// a product build. Debug builds take `CASTD_TEST_EOS_DELAY_MS`, so the daemon tests can
/// make a stop slow and show that a slow end of stream holds up nothing else.
fn eos_hold() -> std::time::Duration {
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var("CASTD_TEST_EOS_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return std::time::Duration::from_millis(ms);
    }
    std::time::Duration::ZERO
}
