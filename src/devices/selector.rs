//! Picks the device a selector names: by stable id, or by role among present devices of
//! the wanted type, real hardware first (then network, then simulated), then by stable id.
//! The selector's words are `model::Selector`'s.

use crate::model::{Device, DeviceType, Selector, SelectorError};

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
    use crate::model::{DeviceRole, Signal};

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
