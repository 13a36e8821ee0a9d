//! How templates name devices: by stable id, or by role ("the first HDMI grabber", "the
//! second camera") so a template survives a re-plug or a replaced camera.
//!
//! Syntax: `<stable id>` (optionally `id:<stable id>`), or `role:<camera|hdmi|microphone>`
//! with an optional `:<n>` counting from 0. This module owns the words only: parsing and
//! printing a selector. Picking a present device for one is the device registry's work
//! (`devices::selector`); nothing here looks at devices.

use std::fmt;
use std::str::FromStr;

use super::{DeviceRole, DeviceType};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
