//! What readers see of the engine's sessions without waiting for its thread: a copy of each
//! session's facts that the engine thread publishes after every change, and the answers
//! built from it (a session's status, its nodes' figures).
//!
//! A view holds a pipeline's `Readout` only: nothing here can change a running pipeline.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::timeline::Timeline;
use crate::media::session::Readout;
use crate::model::{CaptureState, CaptureStatus, NodeStatus, NodeType, Signal};

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
    pub pipeline: Option<Arc<Readout>>,
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
    pub(crate) fn status(&self, now: Instant, now_ms: i64) -> CaptureStatus {
        let mut status = CaptureStatus::idle();
        status.state = self.state;
        status.session_id = Some(self.id.clone());
        status.title = Some(self.title.clone());
        status.template_id = Some(self.template_id.clone());
        status.media_package_id = Some(self.id.clone());
        // Unknown until the first frame passes the gate: a starting session has none yet
        // (never 0, which a client would read as 1970).
        status.start_time = (self.started_wall > 0).then_some(self.started_wall);
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
    pub(crate) fn recorded_now(&self, now: Instant) -> Duration {
        match (&self.recorded, &self.pipeline) {
            (Some(done), _) => *done,
            (None, Some(p)) => p.recorded(),
            (None, None) => self.timeline.elapsed(now),
        }
    }

    pub(crate) fn is_active(&self) -> bool {
        self.state.is_active()
    }
}

#[derive(Default)]
pub(crate) struct View {
    pub sessions: Vec<SessionView>,
}

/// Per-node figures of a session.
pub(crate) fn node_statuses_of(s: &SessionView) -> Vec<NodeStatus> {
    node_statuses(
        s.pipeline.as_deref(),
        &s.node_kinds,
        &s.node_devices,
        &s.lost_since,
    )
}

/// Per-node figures of a pipeline: its nodes' kinds, the devices feeding them, and since
/// when the lost ones are lost.
pub(super) fn node_statuses(
    pipeline: Option<&Readout>,
    node_kinds: &BTreeMap<String, NodeType>,
    node_devices: &BTreeMap<String, String>,
    lost_since: &BTreeMap<String, i64>,
) -> Vec<NodeStatus> {
    let figures = pipeline.map(Readout::figures).unwrap_or_default();
    node_kinds
        .iter()
        .map(|(node, kind)| {
            let f = figures.get(node).cloned().unwrap_or_default();
            let lost = lost_since.get(node).copied();
            let has_signal_state =
                node_devices.contains_key(node) || matches!(kind, NodeType::NetworkSource);
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
                        pipeline.and_then(|p| {
                            p.plan()
                                .elements
                                .iter()
                                .find(|e| e.name == format!("{node}-enc"))
                                .map(|e| e.factory.to_string())
                        })
                    })
                    .flatten(),
                device_id: node_devices.get(node).cloned(),
                stream: pipeline.and_then(|p| p.stream_stats(node)),
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
