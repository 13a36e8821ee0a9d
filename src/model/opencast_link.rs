//! What the Opencast capture agent knows of its link to Opencast, as status answers, the
//! event stream, metrics and the control page show it: when Opencast last answered, what failed last, the calendar's
//! age and size, and how much waits to be sent or ingested.

use serde::Serialize;
use utoipa::ToSchema;

/// The last failure of a call to Opencast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkFailure {
    /// A stable code (`opencast.unreachable`, `opencast.unauthorized`, …).
    pub code: String,
    pub message: String,
    /// What the agent was doing (`state`, `configuration`, `calendar`, `discovery`,
    /// `recordingState`).
    pub during: String,
    /// When, ms since the epoch.
    pub at: i64,
}

/// An Opencast event castd cannot schedule, and why (an unknown template, a window over a
/// day long).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RejectedEvent {
    pub uid: String,
    pub reason: String,
}

/// The link as the agent last saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkStatus {
    /// Whether agent mode is on.
    pub enabled: bool,
    pub backup_mode: bool,
    pub agent_name: String,
    /// The agent state last reported (`idle`, `capturing`, …); `null` before the first.
    pub state: Option<String>,
    /// When Opencast last answered any request, ms; `null` if it never did since start.
    pub last_contact: Option<i64>,
    /// The last failure, cleared by the next success of the same kind of call.
    pub last_error: Option<LinkFailure>,
    /// When the calendar was last fetched (200 or 304), ms.
    pub last_calendar: Option<i64>,
    /// When it was last fetched in full (without `If-None-Match`), ms.
    pub last_full_calendar: Option<i64>,
    /// Opencast events in the calendar castd holds (those not yet ended).
    pub calendar_events: u64,
    /// Events castd could not schedule.
    pub rejected: Vec<RejectedEvent>,
    /// Recording states waiting to be sent.
    pub outbox: u64,
    /// Ingests of Opencast recordings queued or running.
    pub ingest_queue: u64,
}

impl LinkStatus {
    /// What a person watching the link cares about, without the times that move at every
    /// poll: a change of it is worth an event.
    pub fn summary(&self) -> (bool, Option<&str>, Option<&str>, u64, u64, u64, usize) {
        (
            self.enabled,
            self.state.as_deref(),
            self.last_error.as_ref().map(|e| e.code.as_str()),
            self.outbox,
            self.ingest_queue,
            self.calendar_events,
            self.rejected.len(),
        )
    }
}
