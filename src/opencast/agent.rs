//! The capture agent as Opencast knows it: its name, the agent states and recording states
//! it reports, and the configuration (inputs, time zone) it registers.
//!
//! Opencast keys an agent by its name in a URL path; names with spaces or slashes have
//! broken registrations in the field, so castd keeps names to `[A-Za-z0-9._-]` and derives
//! the default from the host name. The configuration is a Java properties map sent as JSON,
//! which Opencast reads into `java.util.Properties`: every value must be a JSON string, and
//! it is copied into every event scheduled on this agent, so it holds no secret.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The longest agent name castd registers (Opencast stores it in a 128-character column).
pub const NAME_MAX: usize = 128;

/// States of the agent (`POST /capture-admin/agents/{name}`), as Opencast spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    Idle,
    Capturing,
    Uploading,
    /// A lasting fault blocks recording (no device, a full disk): never reported as
    /// `capturing` or `idle`.
    Error,
    ShuttingDown,
    Offline,
}

impl AgentState {
    pub const ALL: [AgentState; 6] = [
        AgentState::Idle,
        AgentState::Capturing,
        AgentState::Uploading,
        AgentState::Error,
        AgentState::ShuttingDown,
        AgentState::Offline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Idle => "idle",
            AgentState::Capturing => "capturing",
            AgentState::Uploading => "uploading",
            AgentState::Error => "error",
            AgentState::ShuttingDown => "shutting_down",
            AgentState::Offline => "offline",
        }
    }

    /// The state to report from what the box is doing, worst first: a fault that blocks
    /// recording wins over everything, because saying `capturing` while broken hides it.
    pub fn of(blocked: bool, capturing: bool, uploading: bool) -> AgentState {
        if blocked {
            AgentState::Error
        } else if capturing {
            AgentState::Capturing
        } else if uploading {
            AgentState::Uploading
        } else {
            AgentState::Idle
        }
    }
}

/// States of one scheduled recording (`POST /capture-admin/recordings/{uid}`). Only
/// recordings of Opencast's events get them: the server answers 404 for any other id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingState {
    Capturing,
    CaptureFinished,
    CaptureError,
    Uploading,
    UploadFinished,
    UploadError,
}

impl RecordingState {
    pub const ALL: [RecordingState; 6] = [
        RecordingState::Capturing,
        RecordingState::CaptureFinished,
        RecordingState::CaptureError,
        RecordingState::Uploading,
        RecordingState::UploadFinished,
        RecordingState::UploadError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordingState::Capturing => "capturing",
            RecordingState::CaptureFinished => "capture_finished",
            RecordingState::CaptureError => "capture_error",
            RecordingState::Uploading => "uploading",
            RecordingState::UploadFinished => "upload_finished",
            RecordingState::UploadError => "upload_error",
        }
    }

    /// Where the state lies in a recording's life: an outbox replays states in this order
    /// and never sends an earlier one after a later one.
    pub fn rank(self) -> u8 {
        match self {
            RecordingState::Capturing => 0,
            RecordingState::CaptureFinished | RecordingState::CaptureError => 1,
            RecordingState::Uploading => 2,
            RecordingState::UploadFinished | RecordingState::UploadError => 3,
        }
    }
}

/// Checks an agent name given by an administrator.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the agent name is empty".into());
    }
    if name.len() > NAME_MAX {
        return Err(format!(
            "the agent name is longer than {NAME_MAX} characters"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "the agent name may hold only letters, digits, '.', '_' and '-' (found {c:?})"
        ));
    }
    Ok(())
}

/// The default agent name: `castd-` and the host name, every other character made `-`.
pub fn default_name(host_name: &str) -> String {
    let host: String = host_name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let host = host.trim_matches(|c| c == '-' || c == '.');
    let name = if host.is_empty() {
        "castd".to_string()
    } else {
        format!("castd-{host}")
    };
    name.chars().take(NAME_MAX).collect()
}

/// The agent configuration sent as the `configuration` form field: a JSON object whose
/// values are all strings. `inputs` become `capture.device.names` (what Opencast offers as
/// checkboxes when an event is scheduled) and `time_zone` (IANA) makes Opencast expand
/// recurring series in the room's local time.
#[expect(clippy::expect_used, reason = "invariant: a map of strings serialises")]
pub fn configuration(inputs: &[String], time_zone: &str) -> String {
    let mut properties = BTreeMap::new();
    properties.insert("capture.device.names", inputs.join(","));
    properties.insert("capture.device.timezone", time_zone.to_string());
    serde_json::to_string(&properties).expect("a map of strings serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn states_are_spelled_as_opencast_knows_them() {
        let agent: Vec<&str> = AgentState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            agent,
            [
                "idle",
                "capturing",
                "uploading",
                "error",
                "shutting_down",
                "offline"
            ]
        );
        for state in AgentState::ALL {
            let json = serde_json::to_value(state).unwrap();
            assert_eq!(json, state.as_str());
        }
        let recording: Vec<&str> = RecordingState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            recording,
            [
                "capturing",
                "capture_finished",
                "capture_error",
                "uploading",
                "upload_finished",
                "upload_error"
            ]
        );
        for state in RecordingState::ALL {
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
    }

    #[test]
    fn a_blocking_fault_is_reported_as_error_even_while_capturing() {
        assert_eq!(AgentState::of(true, true, true), AgentState::Error);
        assert_eq!(AgentState::of(false, true, true), AgentState::Capturing);
        assert_eq!(AgentState::of(false, false, true), AgentState::Uploading);
        assert_eq!(AgentState::of(false, false, false), AgentState::Idle);
    }

    #[test]
    fn recording_states_rank_in_the_order_of_a_recording() {
        let ranks: Vec<u8> = RecordingState::ALL.iter().map(|s| s.rank()).collect();
        assert_eq!(ranks, [0, 1, 1, 2, 3, 3]);
    }

    #[test]
    fn names_keep_to_a_safe_alphabet() {
        assert!(validate_name("castd-room101.example_edu").is_ok());
        for bad in ["", "room 101", "room/101", "räum", "a%2Fb", "x?y", "a#b"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_name(&"a".repeat(NAME_MAX)).is_ok());
        assert!(validate_name(&"a".repeat(NAME_MAX + 1)).is_err());
    }

    #[test]
    fn the_default_name_comes_from_the_host_name() {
        assert_eq!(default_name("room101"), "castd-room101");
        assert_eq!(default_name("Hörsaal 1/B"), "castd-H-rsaal-1-B");
        assert_eq!(default_name(""), "castd");
        assert_eq!(default_name("--"), "castd");
        let long = default_name(&"h".repeat(500));
        assert_eq!(long.len(), NAME_MAX);
        assert!(validate_name(&long).is_ok());
        assert!(validate_name(&default_name("Hörsaal 1/B")).is_ok());
    }

    #[test]
    fn the_configuration_is_a_json_object_of_strings() {
        let text = configuration(&["camera".into(), "screen".into()], "Europe/Berlin");
        let value: Value = serde_json::from_str(&text).unwrap();
        let map = value.as_object().unwrap();
        assert_eq!(map["capture.device.names"], "camera,screen");
        assert_eq!(map["capture.device.timezone"], "Europe/Berlin");
        assert!(map.values().all(Value::is_string));
    }
}
