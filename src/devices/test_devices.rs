//! The `test` plugin: simulated cameras, grabbers and microphones (GStreamer's
//! videotestsrc/audiotestsrc at capture time) for demos, for units without hardware, and
//! for the test suite — plus fault injection: a test device can vanish, lose its signal
//! and come back, as real ones do.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::{AudioCaps, Device, DeviceRole, DeviceType, Signal, VideoFormat};

/// Whether the plugin lists its devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TestEnabled {
    /// Only when no real capture device is found (or the daemon runs with `--devices test`).
    #[default]
    Auto,
    /// Always, next to real devices.
    Always,
    /// Never (unless the daemon runs with `--devices test`).
    Never,
}

/// One simulated device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestDeviceConfig {
    /// Short id; the device's stable id is `test:<id>`.
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: DeviceType,
    pub role: DeviceRole,
    /// videotestsrc pattern (`smpte`, `ball`, `snow`, `black`, `white`, `gradient`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framerate: Option<u32>,
    /// audiotestsrc wave (`sine`, `square`, `pink-noise`, `ticks`, `silence`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<String>,
    /// Tone frequency in Hz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u32>,
}

/// Settings of the `test` plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestSettings {
    #[serde(default)]
    pub enabled: TestEnabled,
    #[serde(default = "default_devices")]
    pub devices: Vec<TestDeviceConfig>,
}

impl Default for TestSettings {
    fn default() -> Self {
        TestSettings {
            enabled: TestEnabled::Auto,
            devices: default_devices(),
        }
    }
}

/// A camera, a slide source on the "HDMI grabber" role, and a microphone with a tone: what
/// the default templates need.
fn default_devices() -> Vec<TestDeviceConfig> {
    let video = |id: &str, name: &str, role, pattern: &str, width, height| TestDeviceConfig {
        id: id.into(),
        name: name.into(),
        kind: DeviceType::Video,
        role,
        pattern: Some(pattern.into()),
        width: Some(width),
        height: Some(height),
        framerate: Some(30),
        wave: None,
        frequency: None,
        channels: None,
        rate: None,
    };
    vec![
        video(
            "camera",
            "Test camera",
            DeviceRole::Camera,
            "smpte",
            1280,
            720,
        ),
        video(
            "slides",
            "Test slides",
            DeviceRole::Hdmi,
            "ball",
            1920,
            1080,
        ),
        TestDeviceConfig {
            id: "microphone".into(),
            name: "Test microphone".into(),
            kind: DeviceType::Audio,
            role: DeviceRole::Microphone,
            pattern: None,
            width: None,
            height: None,
            framerate: None,
            wave: Some("sine".into()),
            frequency: Some(440.0),
            channels: Some(2),
            rate: Some(48000),
        },
    ]
}

pub fn is_slug(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl TestSettings {
    /// Checks every device and fills the defaults a capture needs.
    pub fn validate(mut self) -> Result<TestSettings, String> {
        let mut ids = BTreeSet::new();
        for d in &mut self.devices {
            if !is_slug(&d.id) {
                return Err(format!("device id {:?}: use 1-32 of a-z, 0-9 and -", d.id));
            }
            if !ids.insert(d.id.clone()) {
                return Err(format!("device id {:?} appears twice", d.id));
            }
            if d.name.trim().is_empty() || d.name.len() > 64 {
                return Err(format!("device {}: name must be 1-64 characters", d.id));
            }
            match d.kind {
                DeviceType::Video => {
                    let pattern = d.pattern.get_or_insert_with(|| "smpte".into());
                    if !crate::model::device::PATTERNS.contains(&pattern.as_str()) {
                        return Err(format!("device {}: unknown pattern {pattern:?}", d.id));
                    }
                    let (w, h, f) = (
                        *d.width.get_or_insert(1280),
                        *d.height.get_or_insert(720),
                        *d.framerate.get_or_insert(30),
                    );
                    if !(16..=7680).contains(&w)
                        || !(16..=4320).contains(&h)
                        || w % 2 != 0
                        || h % 2 != 0
                    {
                        return Err(format!(
                            "device {}: size {w}x{h} out of range (even, up to 7680x4320)",
                            d.id
                        ));
                    }
                    if !(1..=120).contains(&f) {
                        return Err(format!("device {}: framerate {f} out of range 1-120", d.id));
                    }
                    if d.wave.is_some()
                        || d.frequency.is_some()
                        || d.channels.is_some()
                        || d.rate.is_some()
                    {
                        return Err(format!("device {}: audio options on a video device", d.id));
                    }
                }
                DeviceType::Audio => {
                    let wave = d.wave.get_or_insert_with(|| "sine".into());
                    if !crate::model::device::WAVES.contains(&wave.as_str()) {
                        return Err(format!("device {}: unknown wave {wave:?}", d.id));
                    }
                    let (freq, ch, rate) = (
                        *d.frequency.get_or_insert(440.0),
                        *d.channels.get_or_insert(2),
                        *d.rate.get_or_insert(48000),
                    );
                    if !(20.0..=20000.0).contains(&freq) {
                        return Err(format!(
                            "device {}: frequency {freq} out of range 20-20000 Hz",
                            d.id
                        ));
                    }
                    if !(1..=8).contains(&ch) {
                        return Err(format!("device {}: channels {ch} out of range 1-8", d.id));
                    }
                    if ![16000, 22050, 32000, 44100, 48000, 96000].contains(&rate) {
                        return Err(format!("device {}: unsupported rate {rate}", d.id));
                    }
                    if d.pattern.is_some()
                        || d.width.is_some()
                        || d.height.is_some()
                        || d.framerate.is_some()
                    {
                        return Err(format!("device {}: video options on an audio device", d.id));
                    }
                }
            }
        }
        Ok(self)
    }
}

/// Injected faults of one test device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fault {
    pub vanished: bool,
    pub no_signal: bool,
}

/// The devices the settings describe, with faults applied; vanished ones are left out.
pub fn devices(settings: &TestSettings, faults: &BTreeMap<String, Fault>) -> Vec<Device> {
    settings
        .devices
        .iter()
        .filter(|d| !faults.get(&d.id).is_some_and(|f| f.vanished))
        .map(|d| {
            let stable_id = format!("test:{}", d.id);
            let no_signal = faults.get(&d.id).is_some_and(|f| f.no_signal);
            Device {
                id: stable_id.clone(),
                name: d.name.clone(),
                kind: d.kind,
                plugin: "test".into(),
                role: d.role,
                path: stable_id.clone(),
                bus_info: None,
                stable_id,
                driver: Some(match d.kind {
                    DeviceType::Video => "videotestsrc".into(),
                    DeviceType::Audio => "audiotestsrc".into(),
                }),
                card: None,
                formats: match d.kind {
                    DeviceType::Video => vec![VideoFormat {
                        format: "I420".into(),
                        width: d.width.unwrap_or(1280),
                        height: d.height.unwrap_or(720),
                        framerates: vec![f64::from(d.framerate.unwrap_or(30))],
                    }],
                    DeviceType::Audio => Vec::new(),
                },
                audio: (d.kind == DeviceType::Audio).then(|| AudioCaps {
                    channels: vec![d.channels.unwrap_or(2)],
                    rates: vec![d.rate.unwrap_or(48000)],
                    formats: vec!["S16LE".into(), "F32LE".into()],
                }),
                inputs: Vec::new(),
                present: true,
                signal: if no_signal { Signal::None } else { Signal::Ok },
                detected: None,
                in_use: false,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_cover_the_default_templates() {
        let s = TestSettings::default().validate().unwrap();
        let list = devices(&s, &BTreeMap::new());
        let ids: Vec<&str> = list.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["test:camera", "test:slides", "test:microphone"]);
        assert_eq!(list[1].role, DeviceRole::Hdmi);
        assert_eq!(list[2].audio.as_ref().unwrap().rates, [48000]);
    }

    #[test]
    fn faults_hide_devices_or_take_their_signal() {
        let s = TestSettings::default();
        let faults = BTreeMap::from([
            (
                "camera".to_string(),
                Fault {
                    vanished: true,
                    no_signal: false,
                },
            ),
            (
                "slides".to_string(),
                Fault {
                    vanished: false,
                    no_signal: true,
                },
            ),
        ]);
        let list = devices(&s, &faults);
        assert!(list.iter().all(|d| d.id != "test:camera"));
        assert_eq!(
            list.iter().find(|d| d.id == "test:slides").unwrap().signal,
            Signal::None
        );
    }

    #[test]
    fn bad_device_settings_are_refused() {
        let with = |f: &dyn Fn(&mut TestDeviceConfig)| {
            let mut s = TestSettings::default();
            f(&mut s.devices[0]);
            s.validate()
        };
        assert!(with(&|d| d.id = "Bad Id".into()).is_err());
        assert!(with(&|d| d.pattern = Some("plaid".into())).is_err());
        assert!(with(&|d| d.width = Some(99999)).is_err());
        assert!(with(&|d| d.wave = Some("sine".into())).is_err());
        assert!(
            with(&|d| d.id = "slides".into())
                .unwrap_err()
                .contains("twice")
        );
    }
}
