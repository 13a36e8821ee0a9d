//! Identity and clock of the machine: host name, serial, uptime, time zone, clock sync.

use std::path::Path;
use std::time::Duration;

pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "castd".to_string())
}

/// The firmware's product serial when readable and meaningful, else the systemd machine id.
pub fn serial() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && !is_placeholder_serial(s))
    };
    read("/sys/class/dmi/id/product_serial")
        .or_else(|| read("/sys/firmware/devicetree/base/serial-number"))
        .or_else(|| read("/etc/machine-id"))
        .unwrap_or_else(|| "unknown".to_string())
}

fn is_placeholder_serial(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    lower.contains("to be filled")
        || lower == "default string"
        || lower == "none"
        || s.chars().all(|c| c == '0')
}

/// Time since the machine booted.
pub fn system_uptime() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
        .map(|ts| Duration::new(ts.tv_sec() as u64, ts.tv_nsec() as u32))
        .unwrap_or_default()
}

/// Whether the kernel considers the system clock synchronised (NTP/PTP discipline active
/// and not flagged unsynchronised). Read-only: `adjtimex` with no modes changes nothing.
pub fn clock_synchronized() -> bool {
    // SAFETY: an all-zero timex (modes = 0) is a valid read-only request and the kernel
    // only writes into the struct we own.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: `tx` is a valid timex we own; with modes = 0 the call only reads the clock.
    let state = unsafe { libc::adjtimex(&mut tx) };
    state >= 0 && state != libc::TIME_ERROR && tx.status & libc::STA_UNSYNC == 0
}

/// The machine's IANA time zone, or `UTC` when it cannot be told.
pub fn system_timezone() -> String {
    let from_file = std::fs::read_to_string("/etc/timezone")
        .ok()
        .map(|s| s.trim().to_string());
    let from_link = std::fs::read_link("/etc/localtime")
        .ok()
        .and_then(|target| zone_from_path(&target));
    from_file
        .into_iter()
        .chain(from_link)
        .find(|name| name.parse::<chrono_tz::Tz>().is_ok())
        .unwrap_or_else(|| "UTC".to_string())
}

fn zone_from_path(target: &Path) -> Option<String> {
    let text = target.to_str()?;
    let (_, zone) = text.split_once("zoneinfo/")?;
    Some(zone.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_names_come_from_the_localtime_link() {
        assert_eq!(
            zone_from_path(Path::new("/usr/share/zoneinfo/Europe/Berlin")).as_deref(),
            Some("Europe/Berlin")
        );
        assert_eq!(zone_from_path(Path::new("/etc/foo")), None);
        assert!(system_timezone().parse::<chrono_tz::Tz>().is_ok());
    }

    #[test]
    fn placeholder_serials_are_ignored() {
        assert!(is_placeholder_serial("To Be Filled By O.E.M."));
        assert!(is_placeholder_serial("0000000"));
        assert!(!is_placeholder_serial("PF2ABCDE"));
        assert!(!serial().is_empty());
    }

    #[test]
    fn the_machine_has_been_up_for_a_while() {
        assert!(system_uptime() > Duration::ZERO);
        let _ = clock_synchronized();
    }
}
