//! Status answers: the unit, its disk and network, the capture state, and alarms.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Capture session state; the strings are fixed by the CaptureCast API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CaptureState {
    Idle,
    Starting,
    Capturing,
    Paused,
    Stopping,
    Processing,
    Error,
}

impl CaptureState {
    /// The session holds its pipeline: its devices and template are in use, it counts
    /// against `concurrentCaptures`, and a reboot would cut it short. From `starting` to the
    /// end of `stopping`.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            CaptureState::Starting
                | CaptureState::Capturing
                | CaptureState::Paused
                | CaptureState::Stopping
        )
    }

    /// The recording is still going on (open or paused): a stop would end it. Active
    /// states except `stopping`, whose recording is already ending.
    pub fn is_recording(self) -> bool {
        self.is_active() && self != CaptureState::Stopping
    }
}

/// State of the capture session; the session fields are absent while idle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaptureStatus {
    pub state: CaptureState,
    #[serde(rename = "sessionID", skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(rename = "templateID", skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
    #[serde(rename = "mediaPackageID", skip_serializing_if = "Option::is_none")]
    pub media_package_id: Option<String>,
    /// Wall-clock start, ms since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
    /// Recorded milliseconds, pauses excluded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elapsed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_total: Option<i64>,
    /// Milliseconds until the session stops by itself, when it has a duration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<i64>,
    #[serde(rename = "eventID", skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Files the session writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<String>>,
    /// Encoders the session uses (hardware or software).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoders: Option<Vec<String>>,
    /// The session started on inputs that were already running (only a gate opened).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hot_start: Option<bool>,
    /// Milliseconds from the start command reaching the engine to the first recorded frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_latency: Option<f64>,
}

impl CaptureStatus {
    pub fn idle() -> CaptureStatus {
        CaptureStatus {
            state: CaptureState::Idle,
            session_id: None,
            title: None,
            template_id: None,
            media_package_id: None,
            start_time: None,
            elapsed: None,
            paused_total: None,
            remaining: None,
            event_id: None,
            error: None,
            outputs: None,
            encoders: None,
            hot_start: None,
            start_latency: None,
        }
    }
}

/// Facts about the unit.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnitInfo {
    /// The `unitName` setting: what people call this room's box.
    pub unit_name: String,
    /// The host name.
    pub machine_name: String,
    /// Hardware serial number when the firmware reports one, else the machine id.
    pub serial: String,
    /// castd version.
    pub version: String,
    /// Milliseconds since castd started.
    pub uptime: i64,
    /// Milliseconds since the machine booted.
    pub system_uptime: i64,
    /// Current time, ms since the epoch.
    pub time: i64,
    /// IANA time zone of the unit (the `timezone` setting).
    pub timezone: String,
    /// Whether the kernel reports the clock as synchronised (NTP/PTP).
    pub clock_synchronized: bool,
}

/// Space on the file system that holds the media store, in bytes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiskSpace {
    /// Free blocks, including those reserved for root.
    pub free: u64,
    /// What recordings may use: free space available to castd minus the `diskReserveMb` reserve.
    pub usable: u64,
    pub total: u64,
    /// Minutes of recording that fit in `usable` at `bitrate`.
    pub minutes_left: u64,
    /// Bits per second the estimate assumes.
    pub bitrate: u64,
}

/// One network interface.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    pub name: String,
    /// Hardware address, absent for interfaces without one (loopback).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Addresses in CIDR notation.
    pub addresses: Vec<String>,
    /// Link is up and running (carrier present).
    pub up: bool,
    /// Link speed in Mbit/s when the driver reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed_mbps: Option<u32>,
}

/// Network connectivity of the unit.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkStatus {
    pub interfaces: Vec<NetworkInterface>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_gateway: Option<String>,
    pub dns_servers: Vec<String>,
    /// At least one configured DNS server answered a query recently.
    pub dns_reachable: bool,
}

/// Severity of an alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlarmLevel {
    Warning,
    Error,
}

/// A condition that needs a person's attention, with a stable machine code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Alarm {
    pub code: super::AlarmCode,
    pub level: AlarmLevel,
    pub message: String,
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
}

/// Everything a room panel needs in one call.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnitStatus {
    pub unit: UnitInfo,
    pub capture: CaptureStatus,
    pub disk_space: DiskSpace,
    pub devices: Vec<super::Device>,
    pub alarms: Vec<Alarm>,
}
