//! Capture devices as the API shows them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum DeviceType {
    Video,
    Audio,
}

/// What a device is for, so templates can say "the first HDMI grabber" instead of naming
/// one device and survive a re-plug or a replacement.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum DeviceRole {
    /// A camera (USB/UVC, network camera, or a simulated one).
    Camera,
    /// An HDMI/SDI grabber (video), or the audio that comes with it.
    Hdmi,
    /// A microphone or line input.
    Microphone,
}

/// Whether the device currently delivers a usable signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    /// Signal present and locked (or a source that always has one).
    Ok,
    /// No signal: cable unplugged, source off, camera unreachable.
    None,
    /// A signal that does not lock, or a format the device cannot take.
    Unstable,
    /// The driver cannot tell.
    Unknown,
}

/// One capture format and size with the frame rates the device offers for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VideoFormat {
    /// FourCC of the pixel format (`YUYV`, `MJPG`, `NV12`, ...).
    pub format: String,
    pub width: u32,
    pub height: u32,
    /// Frames per second, highest first.
    pub framerates: Vec<f64>,
}

/// What an audio capture device accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AudioCaps {
    /// Channel counts from the minimum to the maximum the device takes.
    pub channels: Vec<u32>,
    /// Common sample rates (Hz) the device takes.
    pub rates: Vec<u32>,
    /// Sample formats (`S16LE`, `S24LE`, `S32LE`, `F32LE`, ...).
    pub formats: Vec<String>,
}

/// An input of a video device (a grabber's HDMI port, a card's composite input).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VideoInput {
    pub index: u32,
    pub name: String,
    /// The input carries digital video timings (HDMI, DVI, SDI).
    pub dv_timings: bool,
    /// This is the input the device captures from now.
    pub current: bool,
}

/// The signal a grabber detects on its current input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DetectedTiming {
    pub width: u32,
    pub height: u32,
    pub framerate: f64,
    pub interlaced: bool,
}

/// A capture device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// The stable id; templates and URLs use it.
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: DeviceType,
    /// The device-capture plugin that found it: `v4l2`, `alsa`, `network` or `test`.
    pub plugin: String,
    pub role: DeviceRole,
    /// Where the plugin opens it now (`/dev/video0`, `hw:CARD=Dummy,DEV=0`, a URL with
    /// credentials masked); may change across reboots, unlike `stableID`.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bus_info: Option<String>,
    /// Survives reboots, re-plugging into the same port and device renumbering: derived
    /// from the serial number where the hardware has one, else from the physical port.
    #[serde(rename = "stableID")]
    pub stable_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<String>,
    /// Video: formats, sizes and frame rates.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub formats: Vec<VideoFormat>,
    /// Audio: channels, rates and sample formats.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioCaps>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub inputs: Vec<VideoInput>,
    /// Present now; an absent device is kept in the list while something refers to it.
    pub present: bool,
    pub signal: Signal,
    /// The signal a grabber detects, when it reports one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detected: Option<DetectedTiming>,
    /// Another program (or a capture session) is using the device.
    pub in_use: bool,
}

/// videotestsrc patterns (the `test` devices and `testVideo` nodes).
pub const PATTERNS: &[&str] = &[
    "smpte",
    "snow",
    "black",
    "white",
    "red",
    "green",
    "blue",
    "checkers-1",
    "checkers-2",
    "checkers-4",
    "checkers-8",
    "circular",
    "blink",
    "smpte75",
    "zone-plate",
    "gamut",
    "chroma-zone-plate",
    "solid-color",
    "ball",
    "smpte100",
    "bar",
    "pinwheel",
    "spokes",
    "gradient",
    "colors",
];
/// audiotestsrc waves (the `test` devices and `testAudio` nodes).
pub const WAVES: &[&str] = &[
    "sine",
    "square",
    "saw",
    "triangle",
    "silence",
    "white-noise",
    "pink-noise",
    "sine-table",
    "ticks",
    "gaussian-noise",
    "red-noise",
    "blue-noise",
    "violet-noise",
];
