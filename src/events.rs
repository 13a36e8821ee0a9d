//! The daemon's event bus: typed events (device changes now; capture state, alarms, levels
//! later) fanned out to every subscriber (the SSE stream, the audit log, metrics).
//!
//! Publishing never blocks: a subscriber that falls behind loses old events (it sees a
//! `Lagged` error), the publisher never waits for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use tokio::sync::broadcast;

use crate::model::{AlarmLevel, CaptureState, Device, Marker};

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
        code: String,
        level: AlarmLevel,
        message: String,
    },
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
        }
    }

    pub fn publish(&self, event: Event) {
        let envelope = Envelope {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            time: crate::store::now_ms(),
            event,
        };
        // No subscribers is fine: nobody is listening right now.
        let _ = self.sender.send(Arc::new(envelope));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Envelope>> {
        self.sender.subscribe()
    }
}
