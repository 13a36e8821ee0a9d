//! The option schema of every processor type: names, types, ranges, defaults. Validation
//! fills in defaults and says exactly which option of which node is wrong; the graph
//! builder shows the same schemas to clients.

use serde_json::{Map, Value, json};

use crate::model::NodeType;
use crate::model::device::{PATTERNS, WAVES};

/// What values an option takes.
#[derive(Debug, Clone, Copy)]
pub enum OptionKind {
    Int {
        min: i64,
        max: i64,
    },
    Float {
        min: f64,
        max: f64,
    },
    Bool,
    Enum(&'static [&'static str]),
    Text {
        max_len: usize,
    },
    /// A device selector: a stable id or `role:<camera|hdmi|microphone>[:<n>]`.
    Device,
    /// A URL of a network stream.
    Url,
    /// Write-only text (passwords, stream keys); masked wherever it is shown.
    Secret,
}

/// One option of a processor type.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    pub name: &'static str,
    pub kind: OptionKind,
    /// `Value::Null` means "required".
    pub default: fn() -> Value,
    pub description: &'static str,
}

impl OptionSpec {
    pub fn is_secret(&self) -> bool {
        matches!(self.kind, OptionKind::Secret)
    }

    /// JSON Schema of the option.
    pub fn schema(&self) -> Value {
        let mut s = match self.kind {
            OptionKind::Int { min, max } => {
                json!({"type": "integer", "minimum": min, "maximum": max})
            }
            OptionKind::Float { min, max } => {
                json!({"type": "number", "minimum": min, "maximum": max})
            }
            OptionKind::Bool => json!({"type": "boolean"}),
            OptionKind::Enum(values) => json!({"type": "string", "enum": values}),
            OptionKind::Text { max_len } => json!({"type": "string", "maxLength": max_len}),
            OptionKind::Device => json!({"type": "string", "format": "device-selector"}),
            OptionKind::Url => json!({"type": "string", "format": "uri"}),
            OptionKind::Secret => json!({"type": "string", "writeOnly": true}),
        };
        let default = (self.default)();
        if !default.is_null() {
            s["default"] = default;
        }
        s["description"] = Value::from(self.description);
        s
    }

    /// Checks one value, forgiving numbers and booleans sent as strings.
    fn check(&self, value: Value) -> Result<Value, String> {
        let as_f64 = |v: &Value| match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        match self.kind {
            OptionKind::Int { min, max } => {
                let n = as_f64(&value)
                    .filter(|f| f.fract() == 0.0)
                    .ok_or_else(|| format!("expected an integer, got {value}"))?
                    as i64;
                if n < min || n > max {
                    return Err(format!("must be between {min} and {max}, got {n}"));
                }
                Ok(json!(n))
            }
            OptionKind::Float { min, max } => {
                let f = as_f64(&value).ok_or_else(|| format!("expected a number, got {value}"))?;
                if !(min..=max).contains(&f) {
                    return Err(format!("must be between {min} and {max}, got {f}"));
                }
                Ok(json!(f))
            }
            OptionKind::Bool => match value {
                Value::Bool(b) => Ok(Value::Bool(b)),
                Value::String(s) if s == "true" || s == "false" => Ok(Value::Bool(s == "true")),
                other => Err(format!("expected true or false, got {other}")),
            },
            OptionKind::Enum(values) => match value.as_str() {
                Some(s) if values.contains(&s) => Ok(value),
                _ => Err(format!("must be one of {}, got {value}", values.join(", "))),
            },
            OptionKind::Text { max_len } => match value {
                Value::String(s)
                    if s.chars().count() <= max_len && !s.chars().any(char::is_control) =>
                {
                    Ok(Value::String(s))
                }
                Value::String(_) => Err(format!(
                    "must be at most {max_len} characters without control characters"
                )),
                other => Err(format!("expected a string, got {other}")),
            },
            OptionKind::Device => match value.as_str().map(str::parse::<crate::model::Selector>) {
                Some(Ok(_)) => Ok(value),
                Some(Err(e)) => Err(e.to_string()),
                None => Err(format!("expected a device id or role, got {value}")),
            },
            OptionKind::Url => {
                let text = value
                    .as_str()
                    .ok_or_else(|| format!("expected a URL, got {value}"))?;
                let url = url::Url::parse(text).map_err(|e| format!("invalid URL: {e}"))?;
                if !["rtsp", "rtsps", "rtmp", "rtmps", "srt", "http", "https"]
                    .contains(&url.scheme())
                {
                    return Err(format!("unsupported scheme {}", url.scheme()));
                }
                if url.host_str().is_none_or(str::is_empty) {
                    return Err("the URL has no host".into());
                }
                if url.password().is_some() {
                    return Err("put the password in the `password` option, not in the URL".into());
                }
                Ok(value)
            }
            OptionKind::Secret => match value {
                Value::String(s) if s.len() <= 1024 => Ok(Value::String(s)),
                other => Err(format!(
                    "expected a string, got {}",
                    if other.is_string() {
                        "a long one".into()
                    } else {
                        other.to_string()
                    }
                )),
            },
        }
    }
}

/// An option that fails validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("node {node}: option {option}: {reason}")]
pub struct OptionError {
    pub node: String,
    pub option: String,
    pub reason: String,
}

const fn opt(
    name: &'static str,
    kind: OptionKind,
    default: fn() -> Value,
    description: &'static str,
) -> OptionSpec {
    OptionSpec {
        name,
        kind,
        default,
        description,
    }
}

fn none() -> Value {
    Value::Null
}

pub const PRESETS: &[&str] = &[
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
];

const WIDTH: OptionSpec = opt(
    "width",
    OptionKind::Int { min: 16, max: 7680 },
    || json!(1280),
    "Frame width in pixels.",
);
const HEIGHT: OptionSpec = opt(
    "height",
    OptionKind::Int { min: 16, max: 4320 },
    || json!(720),
    "Frame height in pixels.",
);
const FRAMERATE: OptionSpec = opt(
    "framerate",
    OptionKind::Int { min: 1, max: 120 },
    || json!(30),
    "Frames per second.",
);
const RATE: OptionSpec = opt(
    "rate",
    OptionKind::Int {
        min: 8000,
        max: 96000,
    },
    || json!(48000),
    "Sample rate in Hz.",
);
const CHANNELS: OptionSpec = opt(
    "channels",
    OptionKind::Int { min: 1, max: 8 },
    || json!(2),
    "Audio channels.",
);
const SLATE_FALLBACK: OptionSpec = opt(
    "slate",
    OptionKind::Bool,
    || json!(true),
    "Show a \"no signal\" slate (or silence, for audio) while the source delivers nothing, so the recording goes on.",
);

use OptionKind::*;

static VIDEO_DEVICE: &[OptionSpec] = &[
    opt(
        "device",
        Device,
        || json!("role:camera"),
        "Device id, or role:camera / role:hdmi with an optional :n.",
    ),
    WIDTH,
    HEIGHT,
    FRAMERATE,
    SLATE_FALLBACK,
];

static AUDIO_DEVICE: &[OptionSpec] = &[
    opt(
        "device",
        Device,
        || json!("role:microphone"),
        "Device id, or role:microphone / role:hdmi with an optional :n.",
    ),
    RATE,
    CHANNELS,
    SLATE_FALLBACK,
];

static NETWORK_SOURCE: &[OptionSpec] = &[
    opt(
        "url",
        Url,
        none,
        "rtsp://, rtmp://, srt:// or http(s):// URL of the stream.",
    ),
    opt(
        "username",
        Text { max_len: 256 },
        || json!(""),
        "User name for the stream, if it needs one.",
    ),
    opt(
        "password",
        Secret,
        || json!(""),
        "Password for the stream (write-only).",
    ),
    opt(
        "stream",
        Enum(&["video", "audio"]),
        || json!("video"),
        "Which stream of the source this node carries.",
    ),
    WIDTH,
    HEIGHT,
    FRAMERATE,
    RATE,
    CHANNELS,
    opt(
        "latency",
        Int { min: 0, max: 10000 },
        || json!(300),
        "Jitter buffer in milliseconds.",
    ),
    SLATE_FALLBACK,
];

static TEST_VIDEO: &[OptionSpec] = &[
    opt(
        "pattern",
        Enum(PATTERNS),
        || json!("smpte"),
        "Test pattern.",
    ),
    WIDTH,
    HEIGHT,
    FRAMERATE,
];

static TEST_AUDIO: &[OptionSpec] = &[
    opt("wave", Enum(WAVES), || json!("sine"), "Waveform."),
    opt(
        "frequency",
        Float {
            min: 20.0,
            max: 20000.0,
        },
        || json!(440.0),
        "Tone frequency in Hz.",
    ),
    opt(
        "volume",
        Float { min: 0.0, max: 1.0 },
        || json!(0.5),
        "Volume from 0 to 1.",
    ),
    RATE,
    CHANNELS,
];

static SLATE_NODE: &[OptionSpec] = &[
    opt(
        "text",
        Text { max_len: 200 },
        || json!(""),
        "Text shown on the slate.",
    ),
    opt(
        "color",
        Int {
            min: 0,
            max: 0xffff_ffff,
        },
        || json!(0xff20_2020_u32),
        "Background colour as 0xAARRGGBB.",
    ),
    WIDTH,
    HEIGHT,
    FRAMERATE,
];

static COMPOSITOR: &[OptionSpec] = &[
    opt(
        "layout",
        Enum(&["single", "side-by-side", "picture-in-picture"]),
        || json!("side-by-side"),
        "How the inputs are arranged; the first parent is the main picture.",
    ),
    WIDTH,
    HEIGHT,
    FRAMERATE,
    opt(
        "pipCorner",
        Enum(&["top-left", "top-right", "bottom-left", "bottom-right"]),
        || json!("bottom-right"),
        "Corner of the small picture in picture-in-picture.",
    ),
    opt(
        "pipScale",
        Float { min: 0.1, max: 0.5 },
        || json!(0.3),
        "Size of the small picture relative to the canvas.",
    ),
];

static H264_ENCODER: &[OptionSpec] = &[
    opt(
        "bitrate",
        Int {
            min: 100,
            max: 50000,
        },
        || json!(4000),
        "Bitrate in kbit/s.",
    ),
    opt(
        "keyframeInterval",
        Float {
            min: 0.5,
            max: 10.0,
        },
        || json!(2.0),
        "Seconds between keyframes.",
    ),
    opt(
        "preset",
        Enum(PRESETS),
        || json!("veryfast"),
        "x264 speed preset (software encoding).",
    ),
    opt(
        "hardware",
        Enum(&["auto", "never"]),
        || json!("auto"),
        "Use a hardware H.264 encoder when the unit has one.",
    ),
];

static AAC_ENCODER: &[OptionSpec] = &[opt(
    "bitrate",
    Int {
        min: 32000,
        max: 320000,
    },
    || json!(128000),
    "Bitrate in bit/s.",
)];

static FILE_RECORDER: &[OptionSpec] = &[
    opt(
        "container",
        Enum(&["mp4", "mkv"]),
        || json!("mp4"),
        "File format.",
    ),
    opt(
        "fragmentDuration",
        Int {
            min: 200,
            max: 10000,
        },
        || json!(1000),
        "Milliseconds per fragment while recording: at most this much is lost on a crash.",
    ),
];

static RTMP_OUTPUT: &[OptionSpec] = &[
    opt("url", Url, none, "rtmp:// or rtmps:// server URL."),
    opt(
        "streamKey",
        Secret,
        || json!(""),
        "Stream key (write-only).",
    ),
    opt("enabled", Bool, || json!(true), "Stream while capturing."),
];

static PREVIEW: &[OptionSpec] = &[opt(
    "width",
    Int { min: 64, max: 1920 },
    || json!(640),
    "Width of the preview image.",
)];

/// The options of a processor type.
pub fn options(kind: NodeType) -> &'static [OptionSpec] {
    match kind {
        NodeType::VideoDevice => VIDEO_DEVICE,
        NodeType::AudioDevice => AUDIO_DEVICE,
        NodeType::NetworkSource => NETWORK_SOURCE,
        NodeType::TestVideo => TEST_VIDEO,
        NodeType::TestAudio => TEST_AUDIO,
        NodeType::Slate => SLATE_NODE,
        NodeType::Compositor => COMPOSITOR,
        NodeType::AudioMixer => &[],
        NodeType::H264Encoder => H264_ENCODER,
        NodeType::AacEncoder => AAC_ENCODER,
        NodeType::FileRecorder => FILE_RECORDER,
        NodeType::RtmpOutput => RTMP_OUTPUT,
        NodeType::Preview => PREVIEW,
    }
}

/// Checks a node's options and fills in defaults. Unknown options are refused, so a typo
/// does not silently fall back to a default.
pub fn validate_options(
    node_id: &str,
    kind: NodeType,
    given: &Map<String, Value>,
) -> Result<Map<String, Value>, OptionError> {
    let specs = options(kind);
    let error = |option: &str, reason: String| OptionError {
        node: node_id.to_string(),
        option: option.to_string(),
        reason,
    };
    if let Some(unknown) = given
        .keys()
        .find(|k| !specs.iter().any(|s| s.name == k.as_str()))
    {
        return Err(error(unknown, "no such option".into()));
    }
    let mut out = Map::new();
    for spec in specs {
        let value = match given.get(spec.name) {
            Some(v) if !v.is_null() => spec.check(v.clone()).map_err(|r| error(spec.name, r))?,
            _ => {
                let default = (spec.default)();
                if default.is_null() {
                    return Err(error(spec.name, "is required".into()));
                }
                default
            }
        };
        out.insert(spec.name.to_string(), value);
    }
    Ok(out)
}

/// The options with secrets masked, for showing.
pub fn masked(kind: NodeType, options: &Map<String, Value>) -> Map<String, Value> {
    let mut shown = options.clone();
    for spec in self::options(kind).iter().filter(|s| s.is_secret()) {
        if let Some(Value::String(s)) = shown.get(spec.name)
            && !s.is_empty()
        {
            let masked = crate::secrets::mask(s);
            shown.insert(spec.name.to_string(), Value::String(masked));
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_filled_and_sloppy_values_forgiven() {
        let given = json!({"bitrate": "2500", "keyframeInterval": 1})
            .as_object()
            .unwrap()
            .clone();
        let out = validate_options("enc", NodeType::H264Encoder, &given).unwrap();
        assert_eq!(out["bitrate"], json!(2500));
        assert_eq!(out["keyframeInterval"], json!(1.0));
        assert_eq!(out["preset"], json!("veryfast"));
    }

    #[test]
    fn errors_name_the_node_and_option() {
        let check =
            |kind, v: Value| validate_options("n1", kind, v.as_object().unwrap()).unwrap_err();
        let e = check(NodeType::H264Encoder, json!({"bitrate": 1}));
        assert_eq!((e.node.as_str(), e.option.as_str()), ("n1", "bitrate"));
        assert_eq!(
            check(NodeType::Compositor, json!({"layout": "mosaic"})).option,
            "layout"
        );
        assert_eq!(
            check(NodeType::Compositor, json!({"lay-out": "single"})).reason,
            "no such option"
        );
        assert_eq!(
            check(NodeType::VideoDevice, json!({"device": "role:toaster"})).option,
            "device"
        );
        assert_eq!(
            check(NodeType::NetworkSource, json!({})).reason,
            "is required"
        );
        assert!(
            check(NodeType::NetworkSource, json!({"url": "rtsp://u:p@host/x"}))
                .reason
                .contains("password")
        );
    }

    #[test]
    fn every_default_passes_its_own_check_and_schemas_render() {
        for kind in [
            NodeType::VideoDevice,
            NodeType::AudioDevice,
            NodeType::NetworkSource,
            NodeType::TestVideo,
            NodeType::TestAudio,
            NodeType::Slate,
            NodeType::Compositor,
            NodeType::AudioMixer,
            NodeType::H264Encoder,
            NodeType::AacEncoder,
            NodeType::FileRecorder,
            NodeType::RtmpOutput,
            NodeType::Preview,
        ] {
            for spec in options(kind) {
                let d = (spec.default)();
                if !d.is_null() {
                    assert_eq!(spec.check(d.clone()), Ok(d), "{kind:?}.{}", spec.name);
                }
                assert!(spec.schema()["description"].is_string());
            }
        }
    }

    #[test]
    fn secrets_are_masked() {
        let opts = json!({"url": "rtmp://x/live", "streamKey": "live_1234567890abcd"})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(masked(NodeType::RtmpOutput, &opts)["streamKey"], "••••abcd");
    }
}
