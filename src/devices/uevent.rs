//! Hotplug: kernel and udev uevents from netlink, filtered to capture-device subsystems.
//!
//! Both multicast groups are joined: the kernel's (always there, even without udev, as in
//! a minimal VM) and udev's (sent after udev has created device links and permissions).
//! The watch only says "something changed"; the registry debounces and re-scans.

use std::os::fd::AsRawFd as _;
use std::sync::Arc;

use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, socket,
};
use tokio::sync::Notify;

const KERNEL_GROUP: u32 = 1;
const UDEV_GROUP: u32 = 2;

/// Whether a uevent message concerns video or sound devices.
pub(super) fn is_capture_event(message: &[u8]) -> bool {
    // udev messages: "libudev\0", magic, header size, properties offset/length (u32 each).
    let properties = if message.starts_with(b"libudev\0") && message.len() >= 40 {
        let word = |at: usize| {
            u32::from_ne_bytes(message[at..at + 4].try_into().unwrap_or_default()) as usize
        };
        let (offset, len) = (word(16), word(20));
        match message.get(offset..offset.saturating_add(len)) {
            Some(p) => p,
            None => return false,
        }
    } else {
        message
    };
    properties
        .split(|b| *b == 0)
        .filter_map(|field| field.strip_prefix(b"SUBSYSTEM="))
        .any(|s| s == b"video4linux" || s == b"sound")
}

/// Starts a thread that wakes `notify` on every capture-device uevent.
pub(super) fn watch(notify: Arc<Notify>) -> std::io::Result<()> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkKObjectUEvent,
    )
    .map_err(std::io::Error::from)?;
    bind(
        fd.as_raw_fd(),
        &NetlinkAddr::new(0, KERNEL_GROUP | UDEV_GROUP),
    )
    .map_err(std::io::Error::from)?;
    std::thread::Builder::new()
        .name("castd-uevent".into())
        .spawn(move || {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                    Ok(n) if is_capture_event(&buf[..n]) => notify.notify_one(),
                    Ok(_) | Err(nix::errno::Errno::EINTR | nix::errno::Errno::ENOBUFS) => {
                        // ENOBUFS: events were dropped under load; re-scan to be safe.
                        notify.notify_one();
                    }
                    Err(e) => {
                        log::error!("hotplug watch stopped: {e}");
                        return;
                    }
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_messages_are_filtered_by_subsystem() {
        let video = b"add@/devices/platform/vivid.0/video4linux/video0\0ACTION=add\0SUBSYSTEM=video4linux\0DEVNAME=video0\0";
        let net = b"add@/devices/virtual/net/veth0\0ACTION=add\0SUBSYSTEM=net\0";
        assert!(is_capture_event(video));
        assert!(!is_capture_event(net));
        assert!(is_capture_event(
            b"remove@/devices/x/sound/card1\0SUBSYSTEM=sound\0"
        ));
    }

    #[test]
    fn udev_messages_are_read_from_their_property_block() {
        let props = b"ACTION=add\0SUBSYSTEM=sound\0";
        let mut msg = b"libudev\0".to_vec();
        msg.extend_from_slice(&0xfeedcafeu32.to_be_bytes());
        msg.extend_from_slice(&40u32.to_ne_bytes()); // header size
        msg.extend_from_slice(&40u32.to_ne_bytes()); // properties offset
        msg.extend_from_slice(&(props.len() as u32).to_ne_bytes());
        msg.resize(40, 0);
        msg.extend_from_slice(props);
        assert!(is_capture_event(&msg));
        msg.truncate(30);
        assert!(!is_capture_event(&msg));
    }
}
