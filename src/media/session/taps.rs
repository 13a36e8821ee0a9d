//! The probes and appsink callbacks a capture pipeline carries, one function each: JPEG
//! snapshots, buffer counters, three guards that keep buffers the gate or a muxer would
//! choke on out of them, the report that data flows, and the gate's output (where recording
//! starts and how much has been recorded).
//!
//! They run on streaming threads, once per buffer for most: they only count, compare, store
//! and report. They must never block, take a lock shared with the engine, or change the
//! pipeline.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::readout::{Readout, Snapshot};
use super::{EventSink, PipelineEvent};
use crate::graph::plan::Plan;
use crate::media::Error;

/// Buffers and bytes a node has produced, and frames its sink said it dropped.
#[derive(Default)]
pub(super) struct Counter {
    pub buffers: AtomicU64,
    pub bytes: AtomicU64,
    pub dropped: AtomicU64,
}

/// What the probes are installed on and report to.
pub(super) struct Taps<'a> {
    pub elements: &'a HashMap<String, gst::Element>,
    pub plan: &'a Plan,
    pub readout: &'a Arc<Readout>,
    pub events: &'a EventSink,
}

impl Taps<'_> {
    fn element(&self, name: &str) -> Option<&gst::Element> {
        self.elements.get(name)
    }

    fn gate(&self) -> Option<&gst::Element> {
        self.plan.gate.as_ref().and_then(|g| self.element(g))
    }

    /// Installs every tap; returns the counters the watcher turns into rates.
    pub(super) fn install(&self) -> Result<HashMap<String, Arc<Counter>>, Error> {
        self.keep_snapshots()?;
        let counters = self.count_buffers();
        self.drop_untimed_buffers();
        self.drop_frames_out_of_order();
        self.drop_buffers_before_the_start();
        self.report_flowing();
        self.watch_gate_output();
        Ok(counters)
    }

    /// Appsinks keep the latest JPEG of their nodes. One appsink may stand for several
    /// nodes (a preview and its source).
    fn keep_snapshots(&self) -> Result<(), Error> {
        let mut by_sink: HashMap<&String, Vec<String>> = HashMap::new();
        for (node, sink) in &self.plan.snapshots {
            by_sink.entry(sink).or_default().push(node.clone());
        }
        for (sink, nodes) in by_sink {
            let appsink = self
                .element(sink)
                .and_then(|e| e.clone().downcast::<gst_app::AppSink>().ok())
                .ok_or_else(|| not_an_appsink(sink))?;
            let readout = self.readout.clone();
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
                            let mut state = readout.state();
                            for node in &nodes {
                                state.snapshots.insert(node.clone(), snapshot.clone());
                            }
                        }
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            );
        }
        Ok(())
    }

    /// Counts what each counted node's element puts out.
    fn count_buffers(&self) -> HashMap<String, Arc<Counter>> {
        let mut counters = HashMap::new();
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
        counters
    }

    /// A buffer without a timestamp cannot be placed in a file, and the muxer would fail the
    /// whole recording on it: such buffers are dropped (and reported) instead.
    fn drop_untimed_buffers(&self) {
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
    }

    /// The gate asserts (and panics, ending the session) when its main stream's running time
    /// goes backwards, which a busy machine has been seen to produce at a start. A video
    /// frame that arrives out of order is worth less than the recording: it is dropped
    /// before the gate and counted. This probe also marks where a recording starts: the
    /// first main-stream buffer after the gate was told to record.
    fn drop_frames_out_of_order(&self) {
        let Some(pad) = self.gate().and_then(|g| g.static_pad("sink")) else {
            return;
        };
        let last = AtomicU64::new(0);
        let dropped = AtomicU64::new(0);
        let readout = self.readout.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let Some(running) = running_time(pad, info) else {
                return gst::PadProbeReturn::Ok;
            };
            let gate = &readout.gate;
            if gate.arming.swap(false, Ordering::SeqCst) {
                gate.start_ns
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

    /// The gate also asserts when a secondary stream (audio) delivers, after recording
    /// began, a buffer that starts before the recording start (a late first buffer at a cold
    /// start). Such a buffer would be cut from the file anyway: it is dropped here.
    fn drop_buffers_before_the_start(&self) {
        let Some(gate) = self.gate() else {
            return;
        };
        for pad in gate.sink_pads().into_iter().filter(|p| p.name() != "sink") {
            let readout = self.readout.clone();
            let dropped = AtomicU64::new(0);
            pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                let start = readout.gate.start_ns.load(Ordering::SeqCst);
                if start == 0 {
                    return gst::PadProbeReturn::Ok;
                }
                let early = running_time(pad, info).filter(|running| running.nseconds() < start);
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

    /// Data flows once it reaches the gate (or, without one, the first counted element):
    /// reported once, then the probe goes.
    fn report_flowing(&self) {
        let flow_pad = match self.gate() {
            Some(gate) => gate.static_pad("sink"),
            None => self
                .plan
                .stats
                .values()
                .next()
                .and_then(|e| self.element(e))
                .and_then(|e| e.static_pad("src")),
        };
        let Some(pad) = flow_pad else {
            return;
        };
        let readout = self.readout.clone();
        let events = self.events.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if !readout.flowing.swap(true, Ordering::SeqCst) {
                events(PipelineEvent::Flowing);
            }
            gst::PadProbeReturn::Remove
        });
    }

    /// The first buffer out of the gate after it opens marks the start of recording (not the
    /// gate's `recording` notification: it is emitted with the gate's lock held). Where the
    /// gate's output has got to is how much has been recorded.
    fn watch_gate_output(&self) {
        let Some(pad) = self.gate().and_then(|g| g.static_pad("src")) else {
            return;
        };
        let readout = self.readout.clone();
        let events = self.events.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let opening = readout.gate.awaited_opening.swap(0, Ordering::SeqCst);
            if opening != 0 {
                events(PipelineEvent::GateOpen {
                    at: Instant::now(),
                    opening,
                });
            }
            // The gate leaves paused spans out of its output's running time, so where its
            // output has got to is exactly how much has been recorded.
            if let Some(buffer) = info.buffer()
                && let Some(running) = running_time(pad, info)
            {
                let end = running + buffer.duration().unwrap_or(gst::ClockTime::ZERO);
                readout
                    .gate
                    .recorded_ns
                    .fetch_max(end.nseconds(), Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        });
    }
}

pub(super) fn not_an_appsink(name: &str) -> Error {
    Error::Element {
        factory: "appsink".into(),
        message: format!("{name} is not an appsink"),
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
