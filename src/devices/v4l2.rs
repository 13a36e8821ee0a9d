//! The `v4l2` plugin: V4L2 capture nodes (cameras, HDMI grabbers) found in sysfs.
//!
//! Each node is opened briefly (non-blocking) with the `v4l` crate and asked what it is:
//! only nodes that capture video are kept (metadata, output, mem-to-mem and touch nodes are
//! skipped). Format enumeration, inputs, DV timings and the "busy" probe use the driver's
//! ioctls directly where the crate has no wrapper. Nothing here streams.

use std::os::raw::c_int;
use std::path::{Path, PathBuf};

use v4l::v4l_sys::{
    V4L2_CAP_DEVICE_CAPS, V4L2_CAP_VIDEO_CAPTURE, V4L2_CAP_VIDEO_CAPTURE_MPLANE,
    V4L2_CAP_VIDEO_M2M, V4L2_DV_INTERLACED, V4L2_IN_CAP_DV_TIMINGS, V4L2_IN_ST_NO_H_LOCK,
    V4L2_IN_ST_NO_POWER, V4L2_IN_ST_NO_SIGNAL, V4L2_IN_ST_NO_SYNC, v4l2_capability,
    v4l2_dv_timings, v4l2_fmtdesc, v4l2_frmivalenum, v4l2_frmsizeenum, v4l2_input,
    v4l2_requestbuffers,
};

use super::sysfs;
use crate::model::{
    DetectedTiming, Device, DeviceRole, DeviceType, Signal, VideoFormat, VideoInput,
};

const BUF_TYPE_VIDEO_CAPTURE: u32 = 1;
const BUF_TYPE_VIDEO_CAPTURE_MPLANE: u32 = 9;
const MEMORY_MMAP: u32 = 1;
const FRMSIZE_TYPE_DISCRETE: u32 = 1;
const FRMIVAL_TYPE_DISCRETE: u32 = 1;

nix::ioctl_read!(vidioc_querycap, b'V', 0, v4l2_capability);
nix::ioctl_readwrite!(vidioc_enum_fmt, b'V', 2, v4l2_fmtdesc);
nix::ioctl_readwrite!(vidioc_reqbufs, b'V', 8, v4l2_requestbuffers);
nix::ioctl_readwrite!(vidioc_enuminput, b'V', 26, v4l2_input);
nix::ioctl_read!(vidioc_g_input, b'V', 38, c_int);
nix::ioctl_readwrite!(vidioc_enum_framesizes, b'V', 74, v4l2_frmsizeenum);
nix::ioctl_readwrite!(vidioc_enum_frameintervals, b'V', 75, v4l2_frmivalenum);
nix::ioctl_read!(vidioc_query_dv_timings, b'V', 99, v4l2_dv_timings);

/// Upper bound on formats × sizes listed per device; some drivers list hundreds.
const MAX_FORMAT_ENTRIES: usize = 96;
/// Sizes offered for drivers that take any size in a range.
const COMMON_SIZES: [(u32, u32); 7] = [
    (640, 360),
    (640, 480),
    (1280, 720),
    (1920, 1080),
    (2560, 1440),
    (3840, 2160),
    (4096, 2160),
];
/// Rates offered for drivers that take any frame interval in a range.
const COMMON_RATES: [f64; 8] = [60.0, 50.0, 30.0, 29.97, 25.0, 24.0, 15.0, 10.0];

/// Lists the video capture nodes under `class_dir` (normally `/sys/class/video4linux`).
pub(super) fn scan(class_dir: &Path) -> Vec<Device> {
    let Ok(entries) = std::fs::read_dir(class_dir) else {
        return Vec::new();
    };
    let mut nodes: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("video"))
        })
        .collect();
    nodes.sort();
    nodes
        .iter()
        .filter_map(|node| match probe(node) {
            Ok(device) => device,
            Err(e) => {
                log::warn!("v4l2: cannot probe {}: {e}", node.display());
                None
            }
        })
        .collect()
}

fn cstr(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).trim().to_string()
}

fn fourcc(code: u32) -> String {
    let bytes = code.to_le_bytes();
    String::from_utf8_lossy(&bytes).trim_end().to_string()
}

/// Probes one class device such as `/sys/class/video4linux/video0`; `Ok(None)` for nodes
/// that do not capture video.
fn probe(class_device: &Path) -> std::io::Result<Option<Device>> {
    let name = class_device
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let dev_path = PathBuf::from("/dev").join(&name);
    let Some(node) = Node::open(&dev_path)? else {
        return Ok(None);
    };
    let (fd, cap, buf_type) = (node.fd(), node.cap, node.buf_type);

    let driver = cstr(&cap.driver);
    let card = cstr(&cap.card);
    let bus_info = cstr(&cap.bus_info);
    let index = std::fs::read_to_string(class_device.join("index"))
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(0);
    let stable_id = stable_id(class_device, &bus_info, index, &name);

    let inputs = inputs(fd);
    let (signal, detected) = current_signal(fd, &inputs);
    let on_dv_input = inputs.iter().any(|(i, _)| i.current && i.dv_timings);
    let role = if on_dv_input || looks_like_grabber(&card) {
        DeviceRole::Hdmi
    } else {
        DeviceRole::Camera
    };

    Ok(Some(Device {
        id: stable_id.clone(),
        name: card.clone(),
        kind: DeviceType::Video,
        plugin: "v4l2".into(),
        role,
        path: dev_path.to_string_lossy().into_owned(),
        bus_info: Some(bus_info).filter(|b| !b.is_empty()),
        stable_id,
        driver: Some(driver),
        card: Some(card),
        formats: formats(fd, buf_type),
        audio: None,
        inputs: inputs.into_iter().map(|(i, _)| i).collect(),
        present: true,
        signal,
        detected,
        in_use: is_busy(fd, buf_type),
    }))
}

/// Signal, detected timing and "in use" of the node at `dev_path`, without enumerating
/// formats (cheap enough to run every few seconds).
pub(super) fn refresh(dev_path: &str) -> Option<(Signal, Option<DetectedTiming>, bool)> {
    let node = Node::open(Path::new(dev_path)).ok()??;
    let (signal, detected) = current_signal(node.fd(), &inputs(node.fd()));
    Some((signal, detected, is_busy(node.fd(), node.buf_type)))
}

/// An open video capture node and what it said about itself.
struct Node {
    handle: v4l::Device,
    cap: v4l2_capability,
    buf_type: u32,
}

impl Node {
    /// Opens `path` (non-blocking); `Ok(None)` when it is not a video capture node.
    fn open(path: &Path) -> std::io::Result<Option<Node>> {
        let handle = v4l::Device::with_path(path)?;
        // SAFETY: a V4L2 struct is plain C data: all-zero bytes are a valid value.
        let mut cap: v4l2_capability = unsafe { std::mem::zeroed() };
        // SAFETY: the fd is an open V4L2 node and `cap` is the struct this ioctl fills.
        unsafe { vidioc_querycap(handle.handle().fd(), &mut cap) }.map_err(std::io::Error::from)?;
        // Per-node capabilities; the card-wide ones are the union of all its nodes.
        let caps = if cap.capabilities & V4L2_CAP_DEVICE_CAPS != 0 {
            cap.device_caps
        } else {
            cap.capabilities
        };
        let capture = caps & (V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_VIDEO_CAPTURE_MPLANE) != 0;
        if !capture || caps & V4L2_CAP_VIDEO_M2M != 0 {
            return Ok(None);
        }
        let buf_type = if caps & V4L2_CAP_VIDEO_CAPTURE != 0 {
            BUF_TYPE_VIDEO_CAPTURE
        } else {
            BUF_TYPE_VIDEO_CAPTURE_MPLANE
        };
        Ok(Some(Node {
            handle,
            cap,
            buf_type,
        }))
    }

    fn fd(&self) -> c_int {
        self.handle.handle().fd()
    }
}

/// The signal on the current input: DV timings for digital inputs, status flags otherwise.
fn current_signal(fd: c_int, inputs: &[(VideoInput, u32)]) -> (Signal, Option<DetectedTiming>) {
    match inputs.iter().find(|(i, _)| i.current) {
        Some((input, _)) if input.dv_timings => dv_signal(fd),
        Some((_, status)) => (status_signal(*status), None),
        None => (Signal::Unknown, None),
    }
}

/// `v4l2:<physical path>[:<bus instance>]:index<N>`, or the USB serial in place of the path.
fn stable_id(class_device: &Path, bus_info: &str, index: u32, kernel_name: &str) -> String {
    let device = sysfs::device_dir(class_device);
    let base = device
        .as_deref()
        .and_then(|d| sysfs::usb_serial_id(d).or_else(|| sysfs::path_id(d)))
        .unwrap_or_else(|| format!("node-{kernel_name}"));
    // Platform drivers (vivid, SoC capture blocks) can run several instances under one
    // platform device; their bus info names the instance.
    match bus_info.strip_prefix("platform:") {
        Some(instance) if !base.ends_with(instance) => {
            format!("v4l2:{base}:{instance}:index{index}")
        }
        _ => format!("v4l2:{base}:index{index}"),
    }
}

/// Heuristic for grabbers whose driver does not expose DV timings (many USB HDMI sticks
/// present themselves as UVC cameras named "... Capture" or "... HDMI").
fn looks_like_grabber(card: &str) -> bool {
    let lower = card.to_lowercase();
    ["hdmi", "capture", "grabber", "cam link", "sdi"]
        .iter()
        .any(|w| lower.contains(w))
}

fn inputs(fd: c_int) -> Vec<(VideoInput, u32)> {
    let mut current: c_int = -1;
    // SAFETY: fd is open; the ioctl writes one int.
    let has_current = unsafe { vidioc_g_input(fd, &mut current) }.is_ok();
    let mut out = Vec::new();
    for index in 0..32u32 {
        // SAFETY: a V4L2 struct is plain C data: all-zero bytes are a valid value.
        let mut input: v4l2_input = unsafe { std::mem::zeroed() };
        input.index = index;
        // SAFETY: fd is open and `input` is the struct this ioctl fills.
        if unsafe { vidioc_enuminput(fd, &mut input) }.is_err() {
            break;
        }
        out.push((
            VideoInput {
                index,
                name: cstr(&input.name),
                dv_timings: input.capabilities & V4L2_IN_CAP_DV_TIMINGS != 0,
                current: has_current && current == index as c_int,
            },
            input.status,
        ));
    }
    out
}

fn status_signal(status: u32) -> Signal {
    if status & (V4L2_IN_ST_NO_POWER | V4L2_IN_ST_NO_SIGNAL) != 0 {
        Signal::None
    } else if status & (V4L2_IN_ST_NO_SYNC | V4L2_IN_ST_NO_H_LOCK) != 0 {
        Signal::Unstable
    } else {
        Signal::Ok
    }
}

/// Asks a grabber what arrives on its input right now.
fn dv_signal(fd: c_int) -> (Signal, Option<DetectedTiming>) {
    // SAFETY: a V4L2 struct is plain C data: all-zero bytes are a valid value.
    let mut timings: v4l2_dv_timings = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open and `timings` is the struct this ioctl fills.
    match unsafe { vidioc_query_dv_timings(fd, &mut timings) } {
        Ok(_) => {
            // SAFETY: the driver filled the BT.656/1120 member, the only one defined.
            let bt = unsafe { timings.__bindgen_anon_1.bt };
            let (width, height, pixelclock, flags) =
                (bt.width, bt.height, bt.pixelclock, bt.interlaced);
            let total_w = u64::from(width + bt.hfrontporch + bt.hsync + bt.hbackporch);
            let total_h = u64::from(height + bt.vfrontporch + bt.vsync + bt.vbackporch);
            let framerate = if total_w * total_h > 0 {
                (pixelclock as f64 / (total_w * total_h) as f64 * 1000.0).round() / 1000.0
            } else {
                0.0
            };
            (
                Signal::Ok,
                Some(DetectedTiming {
                    width,
                    height,
                    framerate,
                    interlaced: flags & V4L2_DV_INTERLACED != 0,
                }),
            )
        }
        Err(nix::errno::Errno::ENOLINK) => (Signal::None, None),
        Err(nix::errno::Errno::ENOLCK | nix::errno::Errno::ERANGE) => (Signal::Unstable, None),
        Err(_) => (Signal::Unknown, None),
    }
}

/// Another process streams from the device when it owns the buffer queue: asking for zero
/// buffers is then refused with EBUSY, and otherwise changes nothing.
fn is_busy(fd: c_int, buf_type: u32) -> bool {
    // SAFETY: a V4L2 struct is plain C data: all-zero bytes are a valid value.
    let mut req: v4l2_requestbuffers = unsafe { std::mem::zeroed() };
    req.count = 0;
    req.type_ = buf_type;
    req.memory = MEMORY_MMAP;
    matches!(
        // SAFETY: fd is open and `req` is the struct this ioctl takes.
        unsafe { vidioc_reqbufs(fd, &mut req) },
        Err(nix::errno::Errno::EBUSY)
    )
}

fn formats(fd: c_int, buf_type: u32) -> Vec<VideoFormat> {
    let mut out = Vec::new();
    for index in 0..64u32 {
        // SAFETY: a V4L2 struct is plain C data: all-zero bytes are a valid value.
        let mut desc: v4l2_fmtdesc = unsafe { std::mem::zeroed() };
        desc.index = index;
        desc.type_ = buf_type;
        // SAFETY: fd is open and `desc` is the struct this ioctl fills.
        if unsafe { vidioc_enum_fmt(fd, &mut desc) }.is_err() {
            break;
        }
        for (width, height) in sizes(fd, desc.pixelformat) {
            if out.len() >= MAX_FORMAT_ENTRIES {
                return out;
            }
            out.push(VideoFormat {
                format: fourcc(desc.pixelformat),
                width,
                height,
                framerates: rates(fd, desc.pixelformat, width, height),
            });
        }
    }
    out
}

fn sizes(fd: c_int, pixelformat: u32) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for index in 0..128u32 {
        // SAFETY: a V4L2 struct is plain C data: all-zero bytes are a valid value.
        let mut size: v4l2_frmsizeenum = unsafe { std::mem::zeroed() };
        size.index = index;
        size.pixel_format = pixelformat;
        // SAFETY: fd is open and `size` is the struct this ioctl fills.
        if unsafe { vidioc_enum_framesizes(fd, &mut size) }.is_err() {
            break;
        }
        if size.type_ == FRMSIZE_TYPE_DISCRETE {
            // SAFETY: the driver set the discrete member, as `type_` says.
            let d = unsafe { size.__bindgen_anon_1.discrete };
            out.push((d.width, d.height));
        } else {
            // SAFETY: stepwise or continuous: the driver set the stepwise member.
            let s = unsafe { size.__bindgen_anon_1.stepwise };
            let fits = |w: u32, h: u32| {
                w >= s.min_width
                    && w <= s.max_width
                    && h >= s.min_height
                    && h <= s.max_height
                    && (w - s.min_width).is_multiple_of(s.step_width.max(1))
                    && (h - s.min_height).is_multiple_of(s.step_height.max(1))
            };
            out.extend(COMMON_SIZES.iter().copied().filter(|(w, h)| fits(*w, *h)));
            if out.is_empty() {
                out.push((s.max_width, s.max_height));
            }
            break;
        }
    }
    out
}

fn rates(fd: c_int, pixelformat: u32, width: u32, height: u32) -> Vec<f64> {
    let fps = |num: u32, den: u32| {
        if num == 0 {
            0.0
        } else {
            (f64::from(den) / f64::from(num) * 1000.0).round() / 1000.0
        }
    };
    let mut out = Vec::new();
    for index in 0..64u32 {
        // SAFETY: a V4L2 struct is plain C data: all-zero bytes are a valid value.
        let mut ival: v4l2_frmivalenum = unsafe { std::mem::zeroed() };
        ival.index = index;
        ival.pixel_format = pixelformat;
        ival.width = width;
        ival.height = height;
        // SAFETY: fd is open and `ival` is the struct this ioctl fills.
        if unsafe { vidioc_enum_frameintervals(fd, &mut ival) }.is_err() {
            break;
        }
        if ival.type_ == FRMIVAL_TYPE_DISCRETE {
            // SAFETY: the driver set the discrete member, as `type_` says.
            let f = unsafe { ival.__bindgen_anon_1.discrete };
            out.push(fps(f.numerator, f.denominator));
        } else {
            // SAFETY: stepwise or continuous: the driver set the stepwise member.
            let s = unsafe { ival.__bindgen_anon_1.stepwise };
            let fastest = fps(s.min.numerator, s.min.denominator);
            let slowest = fps(s.max.numerator, s.max.denominator);
            out.extend(
                COMMON_RATES
                    .iter()
                    .copied()
                    .filter(|r| *r <= fastest && *r >= slowest),
            );
            if out.is_empty() {
                out.push(fastest);
            }
            break;
        }
    }
    out.retain(|r| *r > 0.0);
    out.sort_by(|a, b| b.total_cmp(a));
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fourccs_and_signals_decode() {
        assert_eq!(fourcc(u32::from_le_bytes(*b"YUYV")), "YUYV");
        assert_eq!(fourcc(u32::from_le_bytes(*b"Y10 ")), "Y10");
        assert_eq!(status_signal(0), Signal::Ok);
        assert_eq!(status_signal(V4L2_IN_ST_NO_SIGNAL), Signal::None);
        assert_eq!(status_signal(V4L2_IN_ST_NO_SYNC), Signal::Unstable);
        assert_eq!(cstr(b"vivid\0\0junk"), "vivid");
    }

    #[test]
    fn grabbers_are_recognised_by_name() {
        assert!(looks_like_grabber("USB3.0 HDMI Capture"));
        assert!(looks_like_grabber("Cam Link 4K"));
        assert!(!looks_like_grabber("HD Pro Webcam C920"));
    }

    #[test]
    fn a_machine_without_video_devices_lists_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(scan(dir.path()).is_empty());
        assert!(scan(&dir.path().join("missing")).is_empty());
    }
}
