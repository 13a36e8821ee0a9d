//! The daemon's event bus: typed events (device changes now; capture state, alarms, levels
//! later) fanned out to every subscriber (the SSE stream, the audit log, metrics).
//!
//! Publishing never blocks: a subscriber that falls behind loses old events (it sees a
//! `Lagged` error), the publisher never waits for it.
//!
//! The bus also keeps a short history of recent events (see [`HISTORY_LEN`] and
//! [`HISTORY_AGE_MS`]) so a client that reconnects can be given what it missed.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;

use crate::model::{AlarmCode, AlarmLevel, AudioLevels, CaptureState, Device, Marker, NodeStatus};

/// At most this many recent events are kept for clients that resume.
pub const HISTORY_LEN: usize = 1000;
/// Events older than this (ms) are not kept for clients that resume.
pub const HISTORY_AGE_MS: i64 = 5 * 60 * 1000;

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Event {
    DeviceAdded {
        device: Device,
    },
    DeviceRemoved {
        device: Device,
    },
    DeviceChanged {
        device: Device,
    },
    /// A capture session changed state.
    #[serde(rename_all = "camelCase")]
    CaptureState {
        #[serde(rename = "sessionID")]
        session_id: String,
        state: CaptureState,
        #[serde(rename = "mediaPackageID")]
        media_package_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A source of a session lost its signal (a slate or silence stands in) or got it back.
    #[serde(rename_all = "camelCase")]
    NodeSignal {
        #[serde(rename = "sessionID")]
        session_id: String,
        #[serde(rename = "nodeID")]
        node_id: String,
        lost: bool,
    },
    #[serde(rename_all = "camelCase")]
    MarkerAdded {
        #[serde(rename = "sessionID")]
        session_id: String,
        marker: Marker,
    },
    /// A publish job changed state.
    PublishJob {
        job: crate::model::PublishJob,
    },
    /// Something needs a person's attention.
    Alarm {
        code: AlarmCode,
        level: AlarmLevel,
        message: String,
    },
    /// Per-node figures of a running session, once a second.
    #[serde(rename_all = "camelCase")]
    NodeStats {
        #[serde(rename = "sessionID")]
        session_id: String,
        nodes: Vec<NodeStatus>,
    },
    /// The Opencast capture agent's link changed (its state, a failure, the outbox or
    /// ingest queue, the calendar's size).
    OpencastLink {
        link: crate::model::LinkStatus,
    },
    /// Audio levels of a running session's audio nodes (node id → levels), once a second.
    #[serde(rename_all = "camelCase")]
    Levels {
        #[serde(rename = "sessionID")]
        session_id: String,
        levels: BTreeMap<String, AudioLevels>,
    },
}

impl Event {
    /// The event's name: its `type`, as the SSE stream names it.
    pub fn name(&self) -> &'static str {
        match self {
            Event::DeviceAdded { .. } => "deviceAdded",
            Event::DeviceRemoved { .. } => "deviceRemoved",
            Event::DeviceChanged { .. } => "deviceChanged",
            Event::CaptureState { .. } => "captureState",
            Event::NodeSignal { .. } => "nodeSignal",
            Event::MarkerAdded { .. } => "markerAdded",
            Event::PublishJob { .. } => "publishJob",
            Event::Alarm { .. } => "alarm",
            Event::NodeStats { .. } => "nodeStats",
            Event::Levels { .. } => "levels",
            Event::OpencastLink { .. } => "opencastLink",
        }
    }

    /// Figures that are stale a second later: not worth replaying to a client that resumes.
    pub fn is_transient(&self) -> bool {
        matches!(self, Event::NodeStats { .. } | Event::Levels { .. })
    }
}

/// An event with its sequence number and time (ms since the epoch).
#[derive(Debug, Clone, Serialize)]
pub struct Envelope {
    pub id: u64,
    pub time: i64,
    #[serde(flatten)]
    pub event: Event,
}

/// Cheap, cloneable handle to the bus.
#[derive(Clone)]
pub struct Bus {
    sender: broadcast::Sender<Arc<Envelope>>,
    next_id: Arc<AtomicU64>,
    history: Arc<Mutex<History>>,
}

/// Recent lasting events, oldest first.
#[derive(Default)]
struct History {
    events: VecDeque<Arc<Envelope>>,
    /// The highest id that was dropped from the history (0: nothing dropped yet).
    dropped_up_to: u64,
}

/// What the history holds after a given event id.
#[derive(Debug)]
pub enum Missed {
    /// Every lasting event after the id, oldest first (transient ones are never kept).
    Events(Vec<Arc<Envelope>>),
    /// Some events after the id are no longer kept, or the id is not from this run of the
    /// daemon: the client must read the state afresh.
    Unknown,
}

impl Default for Bus {
    fn default() -> Self {
        Bus::new(1024)
    }
}

impl Bus {
    pub fn new(capacity: usize) -> Bus {
        let (sender, _) = broadcast::channel(capacity);
        Bus {
            sender,
            next_id: Arc::new(AtomicU64::new(1)),
            history: Arc::default(),
        }
    }

    pub fn publish(&self, event: Event) {
        // Under the history lock, ids reach the history and the subscribers in order.
        let mut history = self.lock_history();
        let envelope = Arc::new(Envelope {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            time: crate::sys::time::now_ms(),
            event,
        });
        if !envelope.event.is_transient() {
            history.push(envelope.clone());
        }
        // No subscribers is fine: nobody is listening right now.
        let _ = self.sender.send(envelope);
    }

    /// The events published after `last_id`, as far as the history still holds them.
    pub fn since(&self, last_id: u64) -> Missed {
        let mut history = self.lock_history();
        history.expire(crate::sys::time::now_ms());
        let next = self.next_id.load(Ordering::Relaxed);
        if last_id >= next || last_id < history.dropped_up_to {
            return Missed::Unknown;
        }
        Missed::Events(
            history
                .events
                .iter()
                .filter(|e| e.id > last_id)
                .cloned()
                .collect(),
        )
    }

    fn lock_history(&self) -> std::sync::MutexGuard<'_, History> {
        self.history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Envelope>> {
        self.sender.subscribe()
    }
}

impl History {
    fn push(&mut self, envelope: Arc<Envelope>) {
        self.expire(envelope.time);
        if self.events.len() == HISTORY_LEN {
            self.drop_oldest();
        }
        self.events.push_back(envelope);
    }

    fn expire(&mut self, now: i64) {
        while self
            .events
            .front()
            .is_some_and(|e| now - e.time > HISTORY_AGE_MS)
        {
            self.drop_oldest();
        }
    }

    fn drop_oldest(&mut self) {
        if let Some(e) = self.events.pop_front() {
            self.dropped_up_to = e.id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(n: usize) -> Event {
        Event::Alarm {
            code: AlarmCode::SourceLost,
            level: AlarmLevel::Warning,
            message: format!("test.{n}"),
        }
    }

    fn ids(missed: Missed) -> Vec<u64> {
        match missed {
            Missed::Events(events) => events.iter().map(|e| e.id).collect(),
            Missed::Unknown => panic!("history unexpectedly unknown"),
        }
    }

    #[test]
    fn resuming_gives_the_lasting_events_after_the_id() {
        let bus = Bus::new(16);
        bus.publish(alarm(1));
        bus.publish(Event::NodeStats {
            session_id: "s".into(),
            nodes: Vec::new(),
        });
        bus.publish(alarm(3));
        assert_eq!(ids(bus.since(0)), vec![1, 3]);
        assert_eq!(ids(bus.since(1)), vec![3]);
        assert_eq!(ids(bus.since(3)), Vec::<u64>::new());
        // An id this run never handed out (the daemon restarted since).
        assert!(matches!(bus.since(4), Missed::Unknown));
    }

    #[test]
    fn event_names_are_the_serialised_types() {
        for event in [
            alarm(0),
            Event::NodeStats {
                session_id: "s".into(),
                nodes: Vec::new(),
            },
            Event::Levels {
                session_id: "s".into(),
                levels: BTreeMap::new(),
            },
            Event::NodeSignal {
                session_id: "s".into(),
                node_id: "n".into(),
                lost: true,
            },
        ] {
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(json["type"], event.name());
        }
    }

    #[test]
    fn the_history_is_bounded_and_says_when_it_lost_events() {
        let bus = Bus::new(16);
        for n in 0..HISTORY_LEN + 10 {
            bus.publish(alarm(n));
        }
        assert!(matches!(bus.since(5), Missed::Unknown));
        let kept = ids(bus.since(10));
        assert_eq!(kept.len(), HISTORY_LEN);
        assert_eq!(kept[0], 11);
    }
}
