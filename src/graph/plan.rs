//! What the graph compiler produces: a pipeline plan of GStreamer elements with typed
//! properties, the links between them, and what the engine needs to drive it (the record
//! gate, the files, the streams, the taps). Pure data: `media::build` creates the elements
//! one by one from it, so no user text is ever parsed as a pipeline description. Nothing
//! here decides what a graph compiles to; that is `graph::compile`'s work.

use std::collections::BTreeMap;
use std::fmt;

use super::Media;

/// A property value, typed so the builder can set it without parsing text.
#[derive(Debug, Clone, PartialEq)]
pub enum Prop {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// The nick of an enum or flags property (`ultrafast`, `downstream`).
    Enum(&'static str),
    Fraction(i32, i32),
    Caps(Caps),
    /// A secret: set as given, shown as `shown`.
    Secret {
        value: String,
        shown: String,
    },
}

impl fmt::Display for Prop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Prop::Str(s) => write!(f, "\"{}\"", s.replace('"', "\\\"")),
            Prop::Int(i) => write!(f, "{i}"),
            Prop::Float(x) => write!(f, "{x}"),
            Prop::Bool(b) => write!(f, "{b}"),
            Prop::Enum(e) => f.write_str(e),
            Prop::Fraction(n, d) => write!(f, "{n}/{d}"),
            Prop::Caps(c) => write!(f, "\"{c}\""),
            Prop::Secret { shown, .. } => write!(f, "\"{shown}\""),
        }
    }
}

/// A caps value.
#[derive(Debug, Clone, PartialEq)]
pub enum CapsValue {
    Str(String),
    Int(i32),
    Fraction(i32, i32),
}

/// Caps with one structure: a media type and fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Caps {
    pub media: &'static str,
    pub fields: Vec<(&'static str, CapsValue)>,
}

impl fmt::Display for Caps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.media)?;
        for (name, value) in &self.fields {
            match value {
                CapsValue::Str(s) => write!(f, ",{name}={s}")?,
                CapsValue::Int(i) => write!(f, ",{name}={i}")?,
                CapsValue::Fraction(n, d) => write!(f, ",{name}={n}/{d}")?,
            }
        }
        Ok(())
    }
}

/// One element to create.
#[derive(Debug, Clone, PartialEq)]
pub struct ElementSpec {
    pub name: String,
    pub factory: &'static str,
    pub props: Vec<(&'static str, Prop)>,
    /// The graph node the element belongs to.
    pub node: String,
}

/// A link between two elements; pads are named when they are request or sometimes pads.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkSpec {
    pub from: String,
    pub from_pad: Option<String>,
    pub to: String,
    pub to_pad: Option<String>,
    /// Properties of the (request) sink pad, e.g. compositor placement.
    pub to_pad_props: Vec<(&'static str, Prop)>,
    /// The source pad appears at run time (decodebin): link the first pad of this media.
    pub dynamic: Option<Media>,
}

/// How a video device delivers frames.
#[derive(Debug, Clone, PartialEq)]
pub enum V4l2Input {
    /// Raw frames in a GStreamer format (`YUY2`, `NV12`, ...).
    Raw {
        format: String,
        width: u32,
        height: u32,
        fps: u32,
    },
    /// Motion JPEG, decoded before use.
    Jpeg { width: u32, height: u32, fps: u32 },
    /// Let the device and GStreamer agree.
    Any,
}

/// Where a device node's media comes from, resolved by the engine from the device list.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    V4l2 {
        path: String,
        input: V4l2Input,
    },
    Alsa {
        path: String,
    },
    TestVideo {
        pattern: String,
        width: u32,
        height: u32,
        fps: u32,
    },
    TestAudio {
        wave: String,
        frequency: f64,
        rate: u32,
        channels: u32,
    },
    /// A network stream; `uri` carries credentials, `shown` masks them.
    Network {
        uri: String,
        shown: String,
    },
    /// The device is not there: only the slate (or silence) is recorded.
    Missing {
        name: String,
    },
}

/// The H.264 encoder the unit uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H264Encoder {
    X264,
    Va,
    V4l2,
}

impl H264Encoder {
    pub fn factory(self) -> &'static str {
        match self {
            H264Encoder::X264 => "x264enc",
            H264Encoder::Va => "vah264enc",
            H264Encoder::V4l2 => "v4l2h264enc",
        }
    }
}

/// What the machine's GStreamer offers, found once at start.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaEnv {
    pub h264: H264Encoder,
    pub aac: &'static str,
    pub text_overlay: bool,
}

/// A file the plan writes.
#[derive(Debug, Clone, PartialEq)]
pub struct RecorderPlan {
    pub node: String,
    pub file: String,
    pub mime: &'static str,
    /// The filesink element.
    pub sink: String,
}

/// A live stream the plan feeds: appsinks that hand encoded media to the stream's own
/// pipeline (so a network failure never touches the recording).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamPlan {
    pub node: String,
    /// The RTMP address with the stream key.
    pub location: String,
    /// The address with the key masked.
    pub shown: String,
    pub enabled: bool,
    /// Appsink element names, and whether each carries video.
    pub sinks: Vec<(String, bool)>,
}

/// A slate (or silence) guarding a source.
#[derive(Debug, Clone, PartialEq)]
pub struct FallbackPlan {
    /// The compositor or audio mixer that lays the source over its slate or silence.
    pub mixer: String,
    /// The element through which only the source's own data flows.
    pub watch: String,
    /// The element whose output stops when the device goes away.
    pub source: String,
}

/// The compiled pipeline.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub elements: Vec<ElementSpec>,
    pub links: Vec<LinkSpec>,
    /// The record gate (togglerecord), when the graph encodes anything.
    pub gate: Option<String>,
    pub recorders: Vec<RecorderPlan>,
    pub streams: Vec<StreamPlan>,
    /// node → appsink delivering JPEG snapshots.
    pub snapshots: BTreeMap<String, String>,
    /// node → level element.
    pub levels: BTreeMap<String, String>,
    pub fallbacks: BTreeMap<String, FallbackPlan>,
    /// Video encoder elements (asked for a keyframe on resume).
    pub video_encoders: Vec<String>,
    /// The node whose picture is the main recording's video.
    pub main_video: Option<String>,
    /// node → element whose output is counted for statistics.
    pub stats: BTreeMap<String, String>,
    /// Encoder factory names used, for status reports.
    pub encoders: Vec<&'static str>,
}

impl Plan {
    /// The plan as text, one element and its properties per line, then the links. Secrets
    /// are masked.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for e in &self.elements {
            out.push_str(&format!("{} = {}", e.name, e.factory));
            for (k, v) in &e.props {
                out.push_str(&format!(" {k}={v}"));
            }
            out.push('\n');
        }
        out.push('\n');
        for l in &self.links {
            let pad = |p: &Option<String>| p.as_ref().map(|p| format!(".{p}")).unwrap_or_default();
            out.push_str(&format!(
                "{}{} ! {}{}",
                l.from,
                pad(&l.from_pad),
                l.to,
                pad(&l.to_pad)
            ));
            for (k, v) in &l.to_pad_props {
                out.push_str(&format!(" {k}={v}"));
            }
            if l.dynamic.is_some() {
                out.push_str(" (when the pad appears)");
            }
            out.push('\n');
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompileError {
    #[error("node {0}: {1}")]
    Unsupported(String, String),
    #[error("node {0}: its device was not resolved")]
    Unresolved(String),
}
