//! How templates name devices: by stable id, or by role ("the first HDMI grabber", "the
//! second camera") so a template survives a re-plug or a replaced camera.
//!
//! Syntax: `<stable id>` (optionally `id:<stable id>`), or `role:<camera|hdmi|microphone>`
//! with an optional `:<n>` counting from 0. Roles pick among present devices of the wanted
//! type, real hardware first (then network, then simulated), then by stable id.

use std::fmt;
use std::str::FromStr;

use crate::model::{Device, DeviceRole, DeviceType};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Id(String),
    Role { role: DeviceRole, index: usize },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SelectorError {
    #[error(
        "invalid device selector {0:?}: use a device id or role:<camera|hdmi|microphone>[:<n>]"
    )]
    Invalid(String),
    #[error("no {kind:?} device {selector}")]
    NoMatch { selector: String, kind: DeviceType },
    #[error("device {0} is absent")]
    Absent(String),
    #[error("device {id} is a {actual:?} device, not {wanted:?}")]
    WrongType {
        id: String,
        actual: DeviceType,
        wanted: DeviceType,
    },
}

impl FromStr for Selector {
    type Err = SelectorError;

    fn from_str(text: &str) -> Result<Selector, SelectorError> {
        let invalid = || SelectorError::Invalid(text.to_string());
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("role:") {
            let (role, index) = match rest.split_once(':') {
                Some((r, n)) => (r, n.parse::<usize>().map_err(|_| invalid())?),
                None => (rest, 0),
            };
            let role = match role {
                "camera" => DeviceRole::Camera,
                "hdmi" => DeviceRole::Hdmi,
                "microphone" => DeviceRole::Microphone,
                _ => return Err(invalid()),
            };
            return Ok(Selector::Role { role, index });
        }
        let id = text.strip_prefix("id:").unwrap_or(text);
        if id.is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
            return Err(invalid());
        }
        Ok(Selector::Id(id.to_string()))
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Id(id) => f.write_str(id),
            Selector::Role { role, index } => {
                let name = serde_json::to_value(role).ok();
                write!(
                    f,
                    "role:{}:{index}",
                    name.as_ref().and_then(|v| v.as_str()).unwrap_or("?")
                )
            }
        }
    }
}

fn plugin_rank(plugin: &str) -> u8 {
    match plugin {
        "v4l2" | "alsa" => 0,
        "network" => 1,
        _ => 2,
    }
}

/// Picks the device `selector` names among `devices`.
pub fn resolve<'a>(
    selector: &Selector,
    kind: DeviceType,
    devices: &'a [Device],
) -> Result<&'a Device, SelectorError> {
    match selector {
        Selector::Id(id) => {
            let device = devices
                .iter()
                .find(|d| d.id == *id || d.stable_id == *id)
                .ok_or_else(|| SelectorError::NoMatch {
                    selector: id.clone(),
                    kind,
                })?;
            if device.kind != kind {
                return Err(SelectorError::WrongType {
                    id: id.clone(),
                    actual: device.kind,
                    wanted: kind,
                });
            }
            if !device.present {
                return Err(SelectorError::Absent(id.clone()));
            }
            Ok(device)
        }
        Selector::Role { role, index } => {
            let mut candidates: Vec<&Device> = devices
                .iter()
                .filter(|d| d.present && d.kind == kind && d.role == *role)
                .collect();
            candidates.sort_by(|a, b| {
                plugin_rank(&a.plugin)
                    .cmp(&plugin_rank(&b.plugin))
                    .then_with(|| a.stable_id.cmp(&b.stable_id))
            });
            candidates
                .get(*index)
                .copied()
                .ok_or_else(|| SelectorError::NoMatch {
                    selector: selector.to_string(),
                    kind,
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Signal;

    fn device(id: &str, plugin: &str, kind: DeviceType, role: DeviceRole, present: bool) -> Device {
        Device {
            id: id.into(),
            name: id.into(),
            kind,
            plugin: plugin.into(),
            role,
            path: String::new(),
            bus_info: None,
            stable_id: id.into(),
            driver: None,
            card: None,
            formats: vec![],
            audio: None,
            inputs: vec![],
            present,
            signal: Signal::Ok,
            detected: None,
            in_use: false,
        }
    }

    #[test]
    fn selectors_parse() {
        assert_eq!(
            "role:hdmi".parse(),
            Ok(Selector::Role {
                role: DeviceRole::Hdmi,
                index: 0
            })
        );
        assert_eq!(
            "role:camera:2".parse(),
            Ok(Selector::Role {
                role: DeviceRole::Camera,
                index: 2
            })
        );
        assert_eq!("id:v4l2:x".parse(), Ok(Selector::Id("v4l2:x".into())));
        assert_eq!(
            "test:camera".parse(),
            Ok(Selector::Id("test:camera".into()))
        );
        assert!("role:projector".parse::<Selector>().is_err());
        assert!("role:hdmi:x".parse::<Selector>().is_err());
        assert!("".parse::<Selector>().is_err());
    }

    #[test]
    fn roles_prefer_real_hardware_then_stable_order_and_skip_absent_devices() {
        use DeviceRole::*;
        use DeviceType::*;
        let devices = vec![
            device("test:slides", "test", Video, Hdmi, true),
            device("v4l2:b", "v4l2", Video, Hdmi, true),
            device("v4l2:a", "v4l2", Video, Hdmi, false),
            device("v4l2:c", "v4l2", Video, Camera, true),
            device("alsa:x", "alsa", Audio, Hdmi, true),
        ];
        let pick = |s: &str, k| resolve(&s.parse().unwrap(), k, &devices).map(|d| d.id.clone());
        assert_eq!(pick("role:hdmi", Video).unwrap(), "v4l2:b");
        assert_eq!(pick("role:hdmi:1", Video).unwrap(), "test:slides");
        assert!(pick("role:hdmi:2", Video).is_err());
        assert_eq!(pick("role:hdmi", Audio).unwrap(), "alsa:x");
        assert_eq!(pick("v4l2:c", Video).unwrap(), "v4l2:c");
        assert_eq!(
            pick("v4l2:a", Video),
            Err(SelectorError::Absent("v4l2:a".into()))
        );
        assert!(matches!(
            pick("v4l2:c", Audio),
            Err(SelectorError::WrongType { .. })
        ));
    }
}
