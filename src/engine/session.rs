//! One capture session as the engine thread keeps it: its phase, what readers see of it,
//! its package, the control side of its pipeline, and what it waits for.

use std::time::{Duration, Instant};

use super::actor::Reply;
use super::machine::Phase;
use super::view::SessionView;
use crate::graph::plan::RecorderPlan;
use crate::media::session::SessionPipeline;
use crate::model::{CaptureStatus, MediaPackage, NodeType, PackageState};

/// How long a lost network stream waits before it is opened again.
const NETWORK_RETRY: Duration = Duration::from_secs(3);

/// Why a session ended early.
pub(super) struct Early {
    pub state: PackageState,
    pub reason: String,
}

impl Early {
    pub(super) fn partial(reason: impl Into<String>) -> Early {
        Early {
            state: PackageState::Partial,
            reason: reason.into(),
        }
    }
}

/// What a session waits for from its pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Awaited {
    /// Data reaching the gate of a cold pipeline.
    Data,
    /// The first frame through the gate after opening number `n`.
    Gate(u64),
    /// Every file's end of stream.
    End,
}

/// A session's wait for its pipeline.
pub(super) struct Wait {
    pub awaited: Awaited,
    /// When the wait gives up.
    pub until: Instant,
    /// When the command that began the wait came.
    pub since: Instant,
    /// Who is answered when the wait ends.
    pub reply: Option<Reply<CaptureStatus>>,
}

/// What goes with a command besides the command.
#[derive(Default)]
pub(super) struct Extra {
    /// The caller to answer.
    pub reply: Option<Reply<CaptureStatus>>,
    /// Why the session ends, when it ends early.
    pub early: Option<Early>,
    /// When the gate passed its first frame.
    pub at: Option<Instant>,
}

impl Extra {
    pub(super) fn reply(reply: Reply<CaptureStatus>) -> Extra {
        Extra {
            reply: Some(reply),
            ..Extra::default()
        }
    }

    pub(super) fn early(early: Early) -> Extra {
        Extra {
            early: Some(early),
            ..Extra::default()
        }
    }

    pub(super) fn at(at: Instant) -> Extra {
        Extra {
            at: Some(at),
            ..Extra::default()
        }
    }
}

pub(super) struct Session {
    pub phase: Phase,
    pub view: SessionView,
    pub package: MediaPackage,
    pub recorders: Vec<RecorderPlan>,
    pub root: String,
    pub early: Option<Early>,
    /// The control side of the pipeline, until the session stopped.
    pub pipeline: Option<SessionPipeline>,
    pub wait: Option<Wait>,
    /// Network sources to open again, and when.
    pub retries: Vec<(String, Instant)>,
    /// When the start was asked for (the start latency counts from it).
    pub asked: Instant,
    /// How long the session records, when it has a duration (its stop time is set from
    /// it once the recording runs).
    pub duration: Option<i64>,
}

impl Session {
    /// Moves the session to `phase`, as readers see it too.
    pub(super) fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        self.view.state = phase.shown();
    }

    pub(super) fn status(&self) -> CaptureStatus {
        self.view.status(Instant::now(), crate::sys::time::now_ms())
    }

    /// Whether the session waits for its gate to pass a first frame.
    pub(super) fn awaits_gate(&self) -> bool {
        self.wait
            .as_ref()
            .is_some_and(|w| matches!(w.awaited, Awaited::Gate(_)))
    }

    /// Whether the session waits for the gate's opening number `opening`.
    pub(super) fn awaits_opening(&self, opening: u64) -> bool {
        self.wait
            .as_ref()
            .is_some_and(|w| w.awaited == Awaited::Gate(opening))
    }

    /// The times something of this session is due: its wait's end, its stop time, its
    /// network sources' next attempt.
    pub(super) fn deadlines(
        &self,
        now: Instant,
        now_ms: i64,
    ) -> impl Iterator<Item = Instant> + '_ {
        let stop = self
            .view
            .stop_at
            .filter(|_| matches!(self.phase, Phase::Capturing | Phase::Paused))
            .map(move |at| now + Duration::from_millis((at - now_ms).max(0) as u64));
        self.wait
            .as_ref()
            .map(|w| w.until)
            .into_iter()
            .chain(stop)
            .chain(self.retries.iter().map(|(_, at)| *at))
    }

    /// A source stopped delivering or came back.
    pub(super) fn signal(&mut self, node: &str, lost: bool) {
        if lost {
            self.view
                .lost_since
                .entry(node.to_string())
                .or_insert_with(crate::sys::time::now_ms);
        } else {
            self.view.lost_since.remove(node);
        }
    }

    /// A source failed; it runs on its slate. A network stream has no hotplug event to say
    /// it is back: it is opened again every few seconds until it answers.
    pub(super) fn source_failed(&mut self, node: &str) {
        self.view
            .lost_since
            .entry(node.to_string())
            .or_insert_with(crate::sys::time::now_ms);
        let is_stream = self.view.node_kinds.get(node) == Some(&NodeType::NetworkSource)
            && !self.view.node_devices.contains_key(node);
        if is_stream && self.pipeline.is_some() && !self.retries.iter().any(|(n, _)| n == node) {
            self.retries
                .push((node.to_string(), Instant::now() + NETWORK_RETRY));
        }
    }

    /// Opens the network sources whose time to try again has come.
    pub(super) fn open_sources_again(&mut self, now: Instant) {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.retries)
            .into_iter()
            .partition(|(_, at)| *at <= now);
        self.retries = later;
        let Some(pipeline) = &self.pipeline else {
            return;
        };
        for (node, _) in due {
            log::info!("{node}: opening the network stream again");
            pipeline.restart_source(&node, "");
        }
    }
}
