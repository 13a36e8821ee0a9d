//! Stable names for devices, derived from sysfs the way udev derives `by-path` and `by-id`.
//!
//! Kernel names (`video0`, `card1`) follow probe order and change when devices are added or
//! reloaded. The physical path (PCI slot, USB port) does not, and neither does a USB serial
//! number; those make a device's stable id.

use std::path::{Path, PathBuf};

/// The physical path of a device, e.g. `pci-0000:00:14.0-usb-0:2:1.0` or
/// `platform-vivid.0`, built from its sysfs directory upwards.
pub(super) fn path_id(device: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut current = std::fs::canonicalize(device).ok()?;
    loop {
        let name = current.file_name()?.to_string_lossy().into_owned();
        match subsystem(&current).as_deref() {
            Some("usb")
                if matches!(
                    devtype(&current).as_deref(),
                    Some("usb_interface" | "usb_device")
                ) =>
            {
                // `1-2.3:1.0` → `usb-0:2.3:1.0`: the port chain (and interface), not the bus
                // number, which depends on probe order.
                let port = name.split_once('-').map_or(name.as_str(), |(_, rest)| rest);
                parts.push(format!("usb-0:{port}"));
                // The device and hubs above add nothing the port chain does not say.
                while let Some(parent) = current.parent() {
                    if subsystem(parent).as_deref() == Some("usb") {
                        current = parent.to_path_buf();
                    } else {
                        break;
                    }
                }
            }
            Some("pci") => parts.push(format!("pci-{name}")),
            Some("platform") => parts.push(format!("platform-{name}")),
            Some("virtio") => parts.push(format!("virtio-{name}")),
            _ => {}
        }
        match current.parent() {
            Some(parent) if parent.file_name().is_some_and(|n| n != "devices") => {
                current = parent.to_path_buf()
            }
            _ => break,
        }
    }
    if parts.is_empty() {
        return None;
    }
    parts.reverse();
    Some(parts.join("-"))
}

/// A USB device's identity when it reports a serial number: `usb-VVVV_PPPP_SERIAL`.
pub(super) fn usb_serial_id(device: &Path) -> Option<String> {
    let mut current = std::fs::canonicalize(device).ok()?;
    loop {
        if subsystem(&current).as_deref() == Some("usb")
            && devtype(&current).as_deref() == Some("usb_device")
        {
            let read = |f: &str| {
                std::fs::read_to_string(current.join(f))
                    .ok()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
            };
            let serial = read("serial")?;
            let clean: String = serial
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            return Some(format!(
                "usb-{}_{}_{}",
                read("idVendor")?,
                read("idProduct")?,
                clean
            ));
        }
        current = current.parent()?.to_path_buf();
        if current.file_name().is_none_or(|n| n == "devices") {
            return None;
        }
    }
}

fn subsystem(dir: &Path) -> Option<String> {
    let target = std::fs::read_link(dir.join("subsystem")).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

fn devtype(dir: &Path) -> Option<String> {
    let uevent = std::fs::read_to_string(dir.join("uevent")).ok()?;
    uevent
        .lines()
        .find_map(|l| l.strip_prefix("DEVTYPE="))
        .map(str::to_string)
}

/// The sysfs device directory behind a class device such as `/sys/class/video4linux/video0`.
pub(super) fn device_dir(class_device: &Path) -> Option<PathBuf> {
    let dir = class_device.join("device");
    dir.exists().then_some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// Builds a miniature sysfs: a PCI USB controller with a camera on port 2.3.
    fn fake_sysfs(root: &Path, serial: Option<&str>) -> PathBuf {
        let bus = root.join("bus");
        for s in ["pci", "usb", "platform"] {
            std::fs::create_dir_all(bus.join(s)).unwrap();
        }
        let pci = root.join("devices/pci0000:00/0000:00:14.0");
        let usb_root = pci.join("usb1");
        let hub = usb_root.join("1-2");
        let dev = hub.join("1-2.3");
        let intf = dev.join("1-2.3:1.0");
        std::fs::create_dir_all(&intf).unwrap();
        let mark = |dir: &Path, sub: &str, devtype: Option<&str>| {
            symlink(bus.join(sub), dir.join("subsystem")).unwrap();
            if let Some(t) = devtype {
                std::fs::write(dir.join("uevent"), format!("DEVTYPE={t}\n")).unwrap();
            }
        };
        mark(&pci, "pci", None);
        mark(&usb_root, "usb", Some("usb_device"));
        mark(&hub, "usb", Some("usb_device"));
        mark(&dev, "usb", Some("usb_device"));
        mark(&intf, "usb", Some("usb_interface"));
        std::fs::write(dev.join("idVendor"), "046d\n").unwrap();
        std::fs::write(dev.join("idProduct"), "082d\n").unwrap();
        if let Some(s) = serial {
            std::fs::write(dev.join("serial"), format!("{s}\n")).unwrap();
        }
        intf
    }

    #[test]
    fn usb_paths_name_the_controller_and_the_port_chain() {
        let dir = tempfile::tempdir().unwrap();
        let intf = fake_sysfs(dir.path(), None);
        assert_eq!(
            path_id(&intf).as_deref(),
            Some("pci-0000:00:14.0-usb-0:2.3:1.0")
        );
        assert_eq!(usb_serial_id(&intf), None);
    }

    #[test]
    fn usb_serials_become_ids() {
        let dir = tempfile::tempdir().unwrap();
        let intf = fake_sysfs(dir.path(), Some("A1B2 C3/"));
        assert_eq!(
            usb_serial_id(&intf).as_deref(),
            Some("usb-046d_082d_A1B2_C3_")
        );
    }

    #[test]
    fn platform_devices_are_named_by_their_platform_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("bus/platform")).unwrap();
        let dev = dir.path().join("devices/platform/vivid.0");
        std::fs::create_dir_all(&dev).unwrap();
        symlink(dir.path().join("bus/platform"), dev.join("subsystem")).unwrap();
        assert_eq!(path_id(&dev).as_deref(), Some("platform-vivid.0"));
        assert_eq!(path_id(&dir.path().join("nowhere")), None);
    }
}
