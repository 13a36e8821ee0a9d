//! The thread that watches one capture pipeline's bus: errors (a guarded source failing is
//! survived on its slate, anything else is fatal), dropped frames, audio levels; and once a
//! second, rates from the counters and which sources run on their fallback.
//!
//! It reports to the pipeline's owner through the event sink and writes figures into the
//! readout; it never changes the pipeline.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;

use super::readout::Readout;
use super::taps::Counter;
use super::{EventSink, PipelineEvent};
use crate::graph::plan::Plan;
use crate::media::Error;
use crate::model::AudioLevels;

/// The name of the message that wakes the watcher to see that it must stop.
pub(super) const WAKE: &str = "castd-wake";

/// What the watcher thread needs, moved into it.
pub(super) struct Watch {
    bus: gst::Bus,
    readout: Arc<Readout>,
    counters: HashMap<String, Arc<Counter>>,
    /// element name → node.
    owners: HashMap<String, String>,
    /// Nodes guarded by a slate or silence.
    guarded: HashSet<String>,
    /// level element → node.
    levels: HashMap<String, String>,
    events: EventSink,
}

impl Watch {
    pub(super) fn new(
        bus: gst::Bus,
        plan: &Plan,
        readout: Arc<Readout>,
        counters: HashMap<String, Arc<Counter>>,
        events: EventSink,
    ) -> Watch {
        Watch {
            bus,
            readout,
            counters,
            owners: plan
                .elements
                .iter()
                .map(|e| (e.name.clone(), e.node.clone()))
                .collect(),
            guarded: plan.fallbacks.keys().cloned().collect(),
            levels: plan
                .levels
                .iter()
                .map(|(node, element)| (element.clone(), node.clone()))
                .collect(),
            events,
        }
    }

    pub(super) fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("castd-pipeline".into())
            .spawn(move || self.run())
    }

    fn run(self) {
        let mut last_tick = Instant::now();
        let mut previous: HashMap<String, (u64, u64)> = HashMap::new();
        while !self.readout.stopped.load(Ordering::SeqCst) {
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
                let debug = e.debug().map(|d| d.to_string());
                self.error(msg, e.error().to_string(), debug);
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
                if let Some(s) = e.structure().filter(|s| s.name() == "level") {
                    self.level(msg, s);
                }
            }
            _ => {}
        }
    }

    /// A guarded source failing is survivable: its slate covers the gap. Anything else ends
    /// the pipeline.
    fn error(&self, msg: &gst::Message, text: String, debug: Option<String>) {
        match self.owner(msg) {
            Some(node) if self.guarded.contains(&node) => {
                log::warn!("source {node} failed: {text}");
                self.readout
                    .state()
                    .figures
                    .entry(node.clone())
                    .or_default()
                    .last_error = Some(text.clone());
                (self.events)(PipelineEvent::SourceError {
                    node,
                    message: text,
                });
            }
            other => {
                log::error!(
                    "pipeline error in {}: {text} ({})",
                    other.as_deref().unwrap_or("?"),
                    debug.as_deref().unwrap_or_default()
                );
                if let Some(node) = other {
                    self.readout
                        .state()
                        .figures
                        .entry(node)
                        .or_default()
                        .last_error = Some(text.clone());
                }
                (self.events)(PipelineEvent::Fatal(Error::Bus {
                    src: msg.src().map(|s| s.name().to_string()).unwrap_or_default(),
                    error: text,
                    debug,
                }));
            }
        }
    }

    fn level(&self, msg: &gst::Message, s: &gst::StructureRef) {
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
        self.readout
            .state()
            .levels
            .insert(node.clone(), AudioLevels { peak, rms, silent });
    }

    /// Once a second: rates from the counters, and which sources run on their fallback.
    fn tick(&self, seconds: f64, previous: &mut HashMap<String, (u64, u64)>) {
        let mut lost_or_back = Vec::new();
        {
            let mut state = self.readout.state();
            for (node, counter) in &self.counters {
                let buffers = counter.buffers.load(Ordering::Relaxed);
                let bytes = counter.bytes.load(Ordering::Relaxed);
                let (pb, pbytes) = previous
                    .insert(node.clone(), (buffers, bytes))
                    .unwrap_or((0, 0));
                let f = state.figures.entry(node.clone()).or_default();
                f.buffers = buffers;
                f.fps = ((buffers - pb) as f64 / seconds * 10.0).round() / 10.0;
                f.bitrate = ((bytes - pbytes) as f64 * 8.0 / seconds) as u64;
                f.dropped = counter.dropped.load(Ordering::Relaxed);
            }
            // A guarded source that delivered nothing for a whole tick has lost its signal;
            // its slate (or silence) is what is recorded meanwhile.
            for node in &self.guarded {
                let f = state.figures.entry(node.clone()).or_default();
                let on_fallback = f.fps == 0.0;
                if f.on_fallback != on_fallback {
                    f.on_fallback = on_fallback;
                    lost_or_back.push((node.clone(), on_fallback));
                }
            }
        }
        // Reported once the figures are released, so whoever hears it can read them.
        for (node, lost) in lost_or_back {
            (self.events)(PipelineEvent::Signal { node, lost });
        }
    }
}
