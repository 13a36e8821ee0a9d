//! What a running pipeline shows to whoever asks: the latest JPEG of each video node, audio
//! levels, per-node figures, how much has been recorded, the live streams' figures.
//!
//! A `Readout` is shared (`Arc`) with the engine's readers (status polls, previews,
//! metrics); it has no method that changes the pipeline. The pipeline's probes and its bus
//! watcher write into it. It must never hold a GStreamer object that could be used to
//! control the pipeline.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::graph::plan::Plan;
use crate::media::rtmp::StreamReadout;
use crate::model::{AudioLevels, StreamStats};

/// The latest JPEG of a video node.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub jpeg: Bytes,
    pub taken: Instant,
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

/// What the pipeline's callbacks keep for readers, behind one lock. None of it is written
/// per buffer (snapshots come a few times a second, levels and figures once a tick), so one
/// lock costs nothing and readers see one consistent picture.
#[derive(Default)]
pub(super) struct State {
    pub snapshots: HashMap<String, Snapshot>,
    pub levels: HashMap<String, AudioLevels>,
    pub figures: HashMap<String, NodeFigures>,
}

/// Where the record gate stands. These are touched by streaming threads for every buffer
/// at the gate, so they stay lock-free atomics instead of joining `State`: a lock there
/// would put readers and the watcher in the way of the media.
#[derive(Default)]
pub(super) struct GateClock {
    /// Set once the gate was told to record: the next main-stream buffer at the gate marks
    /// where recording starts.
    pub arming: AtomicBool,
    /// Running time (ns) at which the gate's current recording started; 0 before.
    pub start_ns: AtomicU64,
    /// The number of the opening that waits for its first buffer out of the gate; 0 when
    /// none does.
    pub awaited_opening: AtomicU64,
    /// Running time reached by the gate's main output: the recorded duration.
    pub recorded_ns: AtomicU64,
}

/// The read-only side of a running pipeline.
pub struct Readout {
    plan: Arc<Plan>,
    state: Mutex<State>,
    pub(super) gate: GateClock,
    /// Set once data reached the gate (the pipeline really runs).
    pub(super) flowing: AtomicBool,
    /// Set when the pipeline was shut down: it delivers nothing more.
    pub(super) stopped: AtomicBool,
    streams: HashMap<String, StreamReadout>,
}

impl Readout {
    pub(super) fn new(plan: Arc<Plan>, streams: HashMap<String, StreamReadout>) -> Readout {
        Readout {
            plan,
            state: Mutex::new(State::default()),
            gate: GateClock::default(),
            flowing: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            streams,
        }
    }

    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The plan the pipeline was built from.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// How much has been recorded: the media time the gate let through, pauses left out.
    pub fn recorded(&self) -> Duration {
        Duration::from_nanos(self.gate.recorded_ns.load(Ordering::Relaxed))
    }

    pub fn snapshot(&self, node: &str) -> Option<Snapshot> {
        self.state().snapshots.get(node).cloned()
    }

    pub fn levels(&self, node: &str) -> Option<AudioLevels> {
        self.state().levels.get(node).cloned()
    }

    pub fn figures(&self) -> HashMap<String, NodeFigures> {
        self.state().figures.clone()
    }

    /// The figures of the live stream of an `rtmpOutput` node.
    pub fn stream_stats(&self, node: &str) -> Option<StreamStats> {
        self.streams.get(node).map(StreamReadout::stats)
    }

    /// Whether data has reached the gate since the pipeline started.
    pub fn is_flowing(&self) -> bool {
        self.flowing.load(Ordering::SeqCst)
    }

    /// Whether the pipeline was shut down (it delivers nothing more).
    pub fn is_shut_down(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }
}
