//! The unit's status answers, composed from machine facts (`sys`), settings and the
//! capture state. Owns the alarm rules that status derives (disk, clock). Reads the parts
//! it is given ([`Sources`]), never the daemon.

use std::path::Path;
use std::time::Instant;

use serde_json::json;

use crate::devices::Devices;
use crate::engine::Engine;
use crate::model::{Alarm, AlarmCode, AlarmLevel, CaptureStatus, DiskSpace, UnitInfo, UnitStatus};
use crate::settings::Settings;
use crate::sys;

/// The parts a status answer reads.
pub(crate) struct Sources<'a> {
    pub settings: &'a Settings,
    pub engine: &'a Engine,
    pub devices: &'a Devices,
    pub media_dir: &'a Path,
    pub serial: &'a str,
    pub started: Instant,
}

/// Bits per second assumed for "minutes left" when no session tells better: a 1080p
/// lecture at 4 Mbit/s video plus 128 kbit/s audio and container overhead.
pub const DEFAULT_RECORDING_BITRATE: u64 = 4_500_000;

/// Below this many minutes of recording left, the disk raises a warning.
const DISK_WARNING_MINUTES: u64 = 60;

pub(crate) fn unit_info(parts: &Sources<'_>) -> UnitInfo {
    UnitInfo {
        unit_name: parts.settings.unit_name(),
        machine_name: sys::unit::hostname(),
        serial: parts.serial.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime: i64::try_from(parts.started.elapsed().as_millis()).unwrap_or(i64::MAX),
        system_uptime: i64::try_from(sys::unit::system_uptime().as_millis()).unwrap_or(i64::MAX),
        time: crate::sys::time::now_ms(),
        timezone: parts.settings.timezone(),
        clock_synchronized: sys::unit::clock_synchronized(),
    }
}

pub(crate) fn disk_space(parts: &Sources<'_>) -> std::io::Result<DiskSpace> {
    let usage = sys::disk::usage(parts.media_dir)?;
    let usable = usage
        .available
        .saturating_sub(parts.settings.disk_reserve_bytes());
    let bitrate = parts.engine.bitrate().unwrap_or(DEFAULT_RECORDING_BITRATE);
    Ok(DiskSpace {
        free: usage.free,
        usable,
        total: usage.total,
        minutes_left: usable.saturating_mul(8) / bitrate / 60,
        bitrate,
    })
}

/// The capture state a panel shows.
pub(crate) fn capture(parts: &Sources<'_>) -> CaptureStatus {
    parts.engine.status()
}

/// Conditions a person should see on the panel right now.
pub fn alarms(disk: &DiskSpace, unit: &UnitInfo) -> Vec<Alarm> {
    let mut alarms = Vec::new();
    if disk.usable == 0 {
        alarms.push(Alarm {
            code: AlarmCode::DiskFull,
            level: AlarmLevel::Error,
            message: "no space left for recordings (free space is below the reserve)".into(),
            params: json!({"free": disk.free}),
        });
    } else if disk.minutes_left < DISK_WARNING_MINUTES {
        alarms.push(Alarm {
            code: AlarmCode::DiskLow,
            level: AlarmLevel::Warning,
            message: format!(
                "only about {} minutes of recording fit on the disk",
                disk.minutes_left
            ),
            params: json!({"minutesLeft": disk.minutes_left}),
        });
    }
    if !unit.clock_synchronized {
        alarms.push(Alarm {
            code: AlarmCode::ClockUnsynchronized,
            level: AlarmLevel::Warning,
            message: "the system clock is not synchronised; scheduled recordings may start at the wrong time".into(),
            params: json!({}),
        });
    }
    alarms
}

pub(crate) fn unit_status(parts: &Sources<'_>) -> std::io::Result<UnitStatus> {
    let unit = unit_info(parts);
    let disk_space = disk_space(parts)?;
    Ok(UnitStatus {
        alarms: alarms(&disk_space, &unit),
        capture: capture(parts),
        disk_space,
        devices: parts.devices.list(None),
        unit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(usable: u64) -> DiskSpace {
        DiskSpace {
            free: usable,
            usable,
            total: 1 << 40,
            minutes_left: usable * 8 / DEFAULT_RECORDING_BITRATE / 60,
            bitrate: DEFAULT_RECORDING_BITRATE,
        }
    }

    fn unit(synced: bool) -> UnitInfo {
        UnitInfo {
            unit_name: "x".into(),
            machine_name: "x".into(),
            serial: "x".into(),
            version: "x".into(),
            uptime: 0,
            system_uptime: 0,
            time: 0,
            timezone: "UTC".into(),
            clock_synchronized: synced,
        }
    }

    #[test]
    fn alarms_follow_disk_and_clock() {
        let codes = |d, u| {
            alarms(&d, &u)
                .into_iter()
                .map(|a| a.code.as_str())
                .collect::<Vec<_>>()
        };
        assert!(codes(disk(100 << 30), unit(true)).is_empty());
        assert_eq!(codes(disk(0), unit(true)), ["disk.full"]);
        assert_eq!(
            codes(disk(1 << 30), unit(false)),
            ["disk.low", "clock.unsynchronized"]
        );
    }
}
