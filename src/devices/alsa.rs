//! The `alsa` plugin: ALSA capture PCMs (microphones, line inputs, grabbers' audio).
//!
//! Cards and their PCM devices come from the control interface; what a device accepts
//! comes from opening it briefly (non-blocking) and reading its hardware parameter ranges.
//! Whether someone records from it is read from `/proc/asound`, which costs no open.

use std::ffi::CString;
use std::path::Path;

use alsa::pcm::{Format, HwParams, PCM};
use alsa::{Direction, card, ctl};

use super::sysfs;
use crate::model::{AudioCaps, Device, DeviceRole, DeviceType, Signal};

const COMMON_RATES: [u32; 9] = [
    8000, 16000, 22050, 32000, 44100, 48000, 88200, 96000, 192000,
];

/// Lists every capture PCM of every card. `previous` supplies capabilities for devices that
/// are busy now and cannot be opened to ask.
pub(super) fn scan(previous: &[Device]) -> Vec<Device> {
    let mut out = Vec::new();
    for card in card::Iter::new().filter_map(Result::ok) {
        if let Err(e) = scan_card(&card, previous, &mut out) {
            log::warn!("alsa: cannot read card {}: {e}", card.get_index());
        }
    }
    out
}

fn scan_card(card: &card::Card, previous: &[Device], out: &mut Vec<Device>) -> alsa::Result<()> {
    let index = card.get_index();
    let ctl = ctl::Ctl::from_card(card, false)?;
    let info = ctl.card_info()?;
    let card_id = info.get_id()?.to_string();
    let card_name = info.get_name()?.to_string();
    let long_name = info.get_longname().unwrap_or_default().to_string();
    let driver = info.get_driver().unwrap_or_default().to_string();
    let class_dir = Path::new("/sys/class/sound").join(format!("card{index}"));
    let physical = sysfs::device_dir(&class_dir)
        .and_then(|d| sysfs::usb_serial_id(&d).or_else(|| sysfs::path_id(&d)))
        .unwrap_or_else(|| format!("card-{card_id}"));

    for device in ctl::DeviceIter::new(&ctl) {
        let Ok(dev) = u32::try_from(device) else {
            continue;
        };
        let Ok(pcm_info) = ctl.pcm_info(dev, 0, Direction::Capture) else {
            continue; // playback-only device
        };
        let pcm_name = pcm_info.get_name().unwrap_or_default().to_string();
        let stable_id = format!("alsa:{physical}:dev{dev}");
        let path = format!("hw:CARD={card_id},DEV={dev}");
        let in_use = substreams_busy(index, dev);
        let audio = if in_use {
            previous
                .iter()
                .find(|d| d.stable_id == stable_id)
                .and_then(|d| d.audio.clone())
        } else {
            capabilities(&path)
        };
        out.push(Device {
            id: stable_id.clone(),
            name: if pcm_name.is_empty() || pcm_name == card_name {
                card_name.clone()
            } else {
                format!("{card_name}: {pcm_name}")
            },
            kind: DeviceType::Audio,
            plugin: "alsa".into(),
            role: role(&card_name, &long_name),
            path,
            bus_info: Some(long_name.clone()).filter(|l| !l.is_empty()),
            stable_id,
            driver: Some(driver.clone()).filter(|d| !d.is_empty()),
            card: Some(card_name.clone()),
            formats: Vec::new(),
            audio,
            inputs: Vec::new(),
            present: true,
            // ALSA has no notion of signal presence; levels tell (preview metering).
            signal: Signal::Unknown,
            detected: None,
            in_use,
        });
    }
    Ok(())
}

fn role(card_name: &str, long_name: &str) -> DeviceRole {
    let text = format!("{card_name} {long_name}").to_lowercase();
    if ["hdmi", "capture", "grabber", "cam link", "video"]
        .iter()
        .any(|w| text.contains(w))
    {
        DeviceRole::Hdmi
    } else {
        DeviceRole::Microphone
    }
}

/// Whether the capture PCM at `path` (`hw:CARD=<id>,DEV=<n>`) is open by anyone.
pub(super) fn in_use(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("hw:CARD=") else {
        return false;
    };
    let Some((card_id, dev)) = rest.split_once(",DEV=") else {
        return false;
    };
    // /proc/asound/<card id> links to the card's directory.
    substreams_busy_in(&format!("/proc/asound/{card_id}/pcm{dev}c"))
}

/// Whether any capture substream of the device is open, from `/proc/asound`.
fn substreams_busy(card: i32, device: u32) -> bool {
    substreams_busy_in(&format!("/proc/asound/card{card}/pcm{device}c"))
}

fn substreams_busy_in(dir: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|e| {
        e.file_name().to_string_lossy().starts_with("sub")
            && std::fs::read_to_string(e.path().join("status")).is_ok_and(|s| s.trim() != "closed")
    })
}

/// Opens the device for capture without starting it and reads what it accepts.
fn capabilities(path: &str) -> Option<AudioCaps> {
    let name = CString::new(path).ok()?;
    let pcm = PCM::open(&name, Direction::Capture, true).ok()?;
    let hw = HwParams::any(&pcm).ok()?;
    let min_ch = hw.get_channels_min().ok()?;
    let max_ch = hw.get_channels_max().ok()?.min(32);
    let rates = COMMON_RATES
        .iter()
        .copied()
        .filter(|r| hw.test_rate(*r).is_ok())
        .collect();
    let formats = [
        (Format::S16LE, "S16LE"),
        (Format::S24LE, "S24LE"),
        (Format::S243LE, "S24_3LE"),
        (Format::S32LE, "S32LE"),
        (Format::FloatLE, "F32LE"),
        (Format::U8, "U8"),
    ]
    .iter()
    .filter(|(f, _)| hw.test_format(*f).is_ok())
    .map(|(_, n)| n.to_string())
    .collect();
    Some(AudioCaps {
        channels: (min_ch..=max_ch).collect(),
        rates,
        formats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grabber_audio_is_told_from_microphones() {
        assert_eq!(role("USB Capture HDMI", ""), DeviceRole::Hdmi);
        assert_eq!(
            role("C920", "HD Pro Webcam C920 at usb-0000:00:14.0-2"),
            DeviceRole::Microphone
        );
    }

    #[test]
    fn a_machine_without_sound_cards_lists_none() {
        // This machine has no /dev/snd: enumeration is empty, not an error.
        if !Path::new("/dev/snd").exists() {
            assert!(scan(&[]).is_empty());
        }
    }
}
