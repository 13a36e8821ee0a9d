//! Compiles a validated graph into a pipeline plan: GStreamer elements with typed
//! properties and the links between them. Pure data: `media::build` turns a plan into
//! elements one by one, so no user text is ever parsed as a pipeline description.
//!
//! What the plan adds around the nodes the author drew:
//! - every video/audio source is normalised to one raw format and, unless told otherwise,
//!   laid over a slate (or mixed with silence), so a source that loses its signal does
//!   not stop the recording or leave a hole in its timeline;
//! - every encoder input passes one shared record gate (`togglerecord`) whose main stream
//!   is the main recording's video: start, pause and resume open and close the gate, and
//!   the gate cuts paused spans out so the files have no gaps, with audio cut to match;
//! - a node feeding several consumers gets a tee with a queue per branch;
//! - taps for JPEG snapshots (video) and level meters (audio) on sources and mixes.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde_json::Value;

use super::{Media, output};
use crate::model::{Graph, Node, NodeType};

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

fn raw_video(width: i64, height: i64, fps: i64) -> Caps {
    Caps {
        media: "video/x-raw",
        fields: vec![
            ("format", CapsValue::Str("I420".into())),
            ("width", CapsValue::Int(width as i32)),
            ("height", CapsValue::Int(height as i32)),
            ("framerate", CapsValue::Fraction(fps as i32, 1)),
            ("pixel-aspect-ratio", CapsValue::Fraction(1, 1)),
        ],
    }
}

fn raw_audio(rate: i64, channels: i64) -> Caps {
    Caps {
        media: "audio/x-raw",
        fields: vec![
            ("format", CapsValue::Str("S16LE".into())),
            ("layout", CapsValue::Str("interleaved".into())),
            ("rate", CapsValue::Int(rate as i32)),
            ("channels", CapsValue::Int(channels as i32)),
        ],
    }
}

/// An element of a chain: name, factory, properties.
type Part = (String, &'static str, Vec<(&'static str, Prop)>);

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

/// Where a node's output can be taken from.
#[derive(Debug, Clone)]
struct Endpoint {
    element: String,
    pad: Option<String>,
    dynamic: Option<Media>,
}

impl Endpoint {
    fn of(element: &str) -> Endpoint {
        Endpoint {
            element: element.to_string(),
            pad: None,
            dynamic: None,
        }
    }
}

struct Compiler<'a> {
    env: &'a MediaEnv,
    preview_fps: (i32, i32),
    plan: Plan,
    outputs: BTreeMap<String, Endpoint>,
    /// Consumers still to come per node (decides tee and queue).
    consumers: BTreeMap<String, usize>,
    taken: BTreeMap<String, usize>,
    nodes: BTreeMap<String, Node>,
    gate_pads: usize,
}

fn int(node: &Node, key: &str) -> i64 {
    node.options
        .get(key)
        .and_then(Value::as_i64)
        .unwrap_or_default()
}

fn float(node: &Node, key: &str) -> f64 {
    node.options
        .get(key)
        .and_then(Value::as_f64)
        .unwrap_or_default()
}

fn text(node: &Node, key: &str) -> String {
    node.options
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn flag(node: &Node, key: &str) -> bool {
    node.options
        .get(key)
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

impl<'a> Compiler<'a> {
    fn element(
        &mut self,
        node: &str,
        name: String,
        factory: &'static str,
        props: Vec<(&'static str, Prop)>,
    ) -> String {
        self.plan.elements.push(ElementSpec {
            name: name.clone(),
            factory,
            props,
            node: node.to_string(),
        });
        name
    }

    fn link(
        &mut self,
        from: &Endpoint,
        to: &str,
        to_pad: Option<String>,
        to_pad_props: Vec<(&'static str, Prop)>,
    ) {
        self.plan.links.push(LinkSpec {
            from: from.element.clone(),
            from_pad: from.pad.clone(),
            to: to.to_string(),
            to_pad,
            to_pad_props,
            dynamic: from.dynamic,
        });
    }

    /// Links a straight chain of new elements after `from`; returns the last.
    fn chain(&mut self, node: &str, from: Option<Endpoint>, parts: Vec<Part>) -> Endpoint {
        let mut last = from;
        for (name, factory, props) in parts {
            let name = self.element(node, name, factory, props);
            if let Some(prev) = &last {
                self.link(prev, &name, None, Vec::new());
            }
            last = Some(Endpoint::of(&name));
        }
        last.expect("a chain has elements")
    }

    /// The next consumer's view of a node's output: the output itself for a single
    /// consumer, else a queue on a tee branch.
    fn take(&mut self, node_id: &str) -> Endpoint {
        let total = self.consumers.get(node_id).copied().unwrap_or(1);
        let index = {
            let t = self.taken.entry(node_id.to_string()).or_default();
            *t += 1;
            *t - 1
        };
        let out = self.outputs[node_id].clone();
        if total <= 1 {
            return out;
        }
        let tee = format!("{node_id}-tee");
        if index == 0 {
            self.element(
                node_id,
                tee.clone(),
                "tee",
                vec![("allow-not-linked", Prop::Bool(true))],
            );
            self.link(&out, &tee, None, Vec::new());
        }
        let queue = self.element(node_id, format!("{node_id}-tee{index}"), "queue", vec![]);
        self.link(
            &Endpoint {
                element: tee,
                pad: Some(format!("src_{index}")),
                dynamic: None,
            },
            &queue,
            None,
            Vec::new(),
        );
        Endpoint::of(&queue)
    }

    fn video_size(&self, node_id: &str) -> (i64, i64, i64) {
        let n = &self.nodes[node_id];
        (int(n, "width"), int(n, "height"), int(n, "framerate"))
    }

    fn normalise_video(
        &mut self,
        node: &str,
        from: Endpoint,
        w: i64,
        h: i64,
        fps: i64,
    ) -> Endpoint {
        self.chain(
            node,
            Some(from),
            vec![
                (format!("{node}-convert"), "videoconvert", vec![]),
                (format!("{node}-scale"), "videoscale", vec![]),
                (format!("{node}-rate"), "videorate", vec![]),
                (
                    format!("{node}-caps"),
                    "capsfilter",
                    vec![("caps", Prop::Caps(raw_video(w, h, fps)))],
                ),
            ],
        )
    }

    fn normalise_audio(
        &mut self,
        node: &str,
        from: Endpoint,
        rate: i64,
        channels: i64,
    ) -> Endpoint {
        self.chain(
            node,
            Some(from),
            vec![
                (format!("{node}-convert"), "audioconvert", vec![]),
                (format!("{node}-resample"), "audioresample", vec![]),
                (
                    format!("{node}-caps"),
                    "capsfilter",
                    vec![("caps", Prop::Caps(raw_audio(rate, channels)))],
                ),
            ],
        )
    }

    /// A "no signal" picture: a plain colour, with text when the unit can render it. Live,
    /// so it keeps time with the sources it stands in for (about 2 % of a core at 720p).
    fn slate(
        &mut self,
        node: &str,
        name: &str,
        label: &str,
        color: i64,
        (w, h, fps): (i64, i64, i64),
    ) -> Endpoint {
        let mut parts = vec![
            (
                format!("{name}-src"),
                "videotestsrc",
                vec![
                    ("is-live", Prop::Bool(true)),
                    ("pattern", Prop::Enum("solid-color")),
                    ("foreground-color", Prop::Int(color)),
                ],
            ),
            (
                format!("{name}-caps"),
                "capsfilter",
                vec![("caps", Prop::Caps(raw_video(w, h, fps)))],
            ),
        ];
        if self.env.text_overlay && !label.is_empty() {
            parts.push((
                format!("{name}-text"),
                "textoverlay",
                vec![
                    ("text", Prop::Str(label.to_string())),
                    ("valignment", Prop::Enum("center")),
                    ("halignment", Prop::Enum("center")),
                    ("font-desc", Prop::Str(format!("Sans {}", (h / 12).max(8)))),
                ],
            ));
        }
        self.chain(node, None, parts)
    }

    fn silence(&mut self, node: &str, name: &str, rate: i64, channels: i64) -> Endpoint {
        self.chain(
            node,
            None,
            vec![
                (
                    format!("{name}-src"),
                    "audiotestsrc",
                    vec![
                        ("is-live", Prop::Bool(true)),
                        ("wave", Prop::Enum("silence")),
                    ],
                ),
                (
                    format!("{name}-caps"),
                    "capsfilter",
                    vec![("caps", Prop::Caps(raw_audio(rate, channels)))],
                ),
            ],
        )
    }

    /// Layers a source over its slate (video) or mixes it with silence (audio). Whenever
    /// the source delivers nothing the slate shows (or silence plays) at once, and the
    /// output keeps its steady rate: no gap in time, nothing for the recording to notice.
    fn guard(
        &mut self,
        node: &str,
        main: Endpoint,
        fallback: Endpoint,
        source_element: String,
        caps: Caps,
    ) -> Endpoint {
        let video = caps.media == "video/x-raw";
        let (factory, props) = if video {
            ("compositor", vec![("background", Prop::Enum("black"))])
        } else {
            ("audiomixer", vec![])
        };
        let guard = self.element(node, format!("{node}-guard"), factory, props);
        let main_q = self.element(node, format!("{node}-mainq"), "queue", vec![]);
        self.link(&main, &main_q, None, Vec::new());
        let (w, h) = caps
            .fields
            .iter()
            .fold((0, 0), |(w, h), (k, v)| match (k, v) {
                (&"width", CapsValue::Int(x)) => (i64::from(*x), h),
                (&"height", CapsValue::Int(y)) => (w, i64::from(*y)),
                _ => (w, h),
            });
        let layer = |z: i64| {
            if video {
                vec![
                    ("zorder", Prop::Int(z)),
                    ("width", Prop::Int(w)),
                    ("height", Prop::Int(h)),
                ]
            } else {
                Vec::new()
            }
        };
        let mut source_layer = layer(1);
        if video {
            // Without this the compositor would hold the source's last picture for ever.
            source_layer.push(("max-last-buffer-repeat", Prop::Int(500_000_000)));
        }
        self.link(&fallback, &guard, Some("sink_0".into()), layer(0));
        self.link(
            &Endpoint::of(&main_q),
            &guard,
            Some("sink_1".into()),
            source_layer,
        );
        self.plan.fallbacks.insert(
            node.to_string(),
            FallbackPlan {
                mixer: guard.clone(),
                watch: main_q.clone(),
                source: source_element,
            },
        );
        // The source's delivery is what its figures count (a stalled source shows 0 fps).
        self.plan.stats.insert(node.to_string(), main_q);
        self.chain(
            node,
            Some(Endpoint::of(&guard)),
            vec![(
                format!("{node}-out"),
                "capsfilter",
                vec![("caps", Prop::Caps(caps))],
            )],
        )
    }

    fn video_source(&mut self, node: &Node, spec: &SourceSpec) -> Result<Endpoint, CompileError> {
        let id = node.id.as_str();
        let (w, h, fps) = (
            int(node, "width"),
            int(node, "height"),
            int(node, "framerate"),
        );
        let src = format!("{id}-src");
        let raw = match spec {
            SourceSpec::V4l2 { path, input } => {
                let mut parts = vec![(
                    src.clone(),
                    "v4l2src",
                    vec![("device", Prop::Str(path.clone()))],
                )];
                match input {
                    V4l2Input::Raw {
                        format,
                        width,
                        height,
                        fps,
                    } => parts.push((
                        format!("{id}-srccaps"),
                        "capsfilter",
                        vec![(
                            "caps",
                            Prop::Caps(Caps {
                                media: "video/x-raw",
                                fields: vec![
                                    ("format", CapsValue::Str(format.clone())),
                                    ("width", CapsValue::Int(*width as i32)),
                                    ("height", CapsValue::Int(*height as i32)),
                                    ("framerate", CapsValue::Fraction(*fps as i32, 1)),
                                ],
                            }),
                        )],
                    )),
                    V4l2Input::Jpeg { width, height, fps } => {
                        parts.push((
                            format!("{id}-srccaps"),
                            "capsfilter",
                            vec![(
                                "caps",
                                Prop::Caps(Caps {
                                    media: "image/jpeg",
                                    fields: vec![
                                        ("width", CapsValue::Int(*width as i32)),
                                        ("height", CapsValue::Int(*height as i32)),
                                        ("framerate", CapsValue::Fraction(*fps as i32, 1)),
                                    ],
                                }),
                            )],
                        ));
                        parts.push((format!("{id}-dec"), "jpegdec", vec![]));
                    }
                    V4l2Input::Any => {}
                }
                Some(self.chain(id, None, parts))
            }
            SourceSpec::TestVideo {
                pattern,
                width,
                height,
                fps,
            } => Some(self.chain(
                id,
                None,
                vec![
                    (
                        src.clone(),
                        "videotestsrc",
                        vec![
                            ("is-live", Prop::Bool(true)),
                            ("pattern", Prop::Str(pattern.clone())),
                        ],
                    ),
                    (
                        format!("{id}-srccaps"),
                        "capsfilter",
                        vec![(
                            "caps",
                            Prop::Caps(raw_video(
                                i64::from(*width),
                                i64::from(*height),
                                i64::from(*fps),
                            )),
                        )],
                    ),
                ],
            )),
            SourceSpec::Network { uri, shown } => {
                let name = self.element(
                    id,
                    src.clone(),
                    "uridecodebin",
                    vec![(
                        "uri",
                        Prop::Secret {
                            value: uri.clone(),
                            shown: shown.clone(),
                        },
                    )],
                );
                Some(Endpoint {
                    element: name,
                    pad: None,
                    dynamic: Some(Media::RawVideo),
                })
            }
            SourceSpec::Missing { .. } => None,
            SourceSpec::Alsa { .. } | SourceSpec::TestAudio { .. } => {
                return Err(CompileError::Unsupported(
                    id.into(),
                    "an audio device cannot feed a video node".into(),
                ));
            }
        };
        let label = match spec {
            SourceSpec::Missing { name } => format!("No signal: {name}"),
            _ => format!("No signal: {id}"),
        };
        let slate_wanted = flag(node, "slate") || raw.is_none();
        match raw {
            Some(raw) => {
                let normal = self.normalise_video(id, raw, w, h, fps);
                self.plan.stats.insert(id.to_string(), src.clone());
                if slate_wanted {
                    // Drawn at a quarter of the size and scaled up only when it shows: while
                    // the source runs, the slate under it costs next to nothing.
                    let small = ((w / 4 / 2 * 2).max(16), (h / 4 / 2 * 2).max(16));
                    let slate = self.slate(
                        id,
                        &format!("{id}-slate"),
                        &label,
                        0xff20_2020,
                        (small.0, small.1, fps),
                    );
                    Ok(self.guard(id, normal, slate, src, raw_video(w, h, fps)))
                } else {
                    Ok(normal)
                }
            }
            None => {
                let slate =
                    self.slate(id, &format!("{id}-slate"), &label, 0xff20_2020, (w, h, fps));
                self.plan
                    .stats
                    .insert(id.to_string(), slate.element.clone());
                Ok(slate)
            }
        }
    }

    fn audio_source(&mut self, node: &Node, spec: &SourceSpec) -> Result<Endpoint, CompileError> {
        let id = node.id.as_str();
        let (rate, channels) = (int(node, "rate"), int(node, "channels"));
        let src = format!("{id}-src");
        let raw = match spec {
            SourceSpec::Alsa { path } => Some(self.chain(
                id,
                None,
                vec![(
                    src.clone(),
                    "alsasrc",
                    vec![("device", Prop::Str(path.clone()))],
                )],
            )),
            SourceSpec::TestAudio {
                wave,
                frequency,
                rate,
                channels,
            } => Some(self.chain(
                id,
                None,
                vec![
                    (
                        src.clone(),
                        "audiotestsrc",
                        vec![
                            ("is-live", Prop::Bool(true)),
                            ("wave", Prop::Str(wave.clone())),
                            ("freq", Prop::Float(*frequency)),
                            ("volume", Prop::Float(0.5)),
                        ],
                    ),
                    (
                        format!("{id}-srccaps"),
                        "capsfilter",
                        vec![(
                            "caps",
                            Prop::Caps(raw_audio(i64::from(*rate), i64::from(*channels))),
                        )],
                    ),
                ],
            )),
            SourceSpec::Network { uri, shown } => {
                let name = self.element(
                    id,
                    src.clone(),
                    "uridecodebin",
                    vec![(
                        "uri",
                        Prop::Secret {
                            value: uri.clone(),
                            shown: shown.clone(),
                        },
                    )],
                );
                Some(Endpoint {
                    element: name,
                    pad: None,
                    dynamic: Some(Media::RawAudio),
                })
            }
            SourceSpec::Missing { .. } => None,
            _ => {
                return Err(CompileError::Unsupported(
                    id.into(),
                    "a video device cannot feed an audio node".into(),
                ));
            }
        };
        match raw {
            Some(raw) => {
                let normal = self.normalise_audio(id, raw, rate, channels);
                self.plan.stats.insert(id.to_string(), src.clone());
                if flag(node, "slate") {
                    let silence = self.silence(id, &format!("{id}-silence"), rate, channels);
                    Ok(self.guard(id, normal, silence, src, raw_audio(rate, channels)))
                } else {
                    Ok(normal)
                }
            }
            None => {
                let silence = self.silence(id, &format!("{id}-silence"), rate, channels);
                self.plan
                    .stats
                    .insert(id.to_string(), silence.element.clone());
                Ok(silence)
            }
        }
    }

    fn compositor(&mut self, node: &Node) -> Endpoint {
        let id = node.id.as_str();
        let (w, h, fps) = (
            int(node, "width"),
            int(node, "height"),
            int(node, "framerate"),
        );
        let mix = self.element(
            id,
            format!("{id}-mix"),
            "compositor",
            vec![("background", Prop::Enum("black"))],
        );
        let layout = text(node, "layout");
        let boxes = layout_boxes(
            &layout,
            &text(node, "pipCorner"),
            float(node, "pipScale"),
            w,
            h,
        );
        for (index, parent) in node.parents.clone().iter().enumerate() {
            let (pw, ph, _) = self.video_size(parent);
            let (bx, by, bw, bh) = boxes[index.min(boxes.len() - 1)];
            let (x, y, fw, fh) = fit(pw, ph, bx, by, bw, bh);
            let from = self.take(parent);
            self.link(
                &from,
                &mix,
                Some(format!("sink_{index}")),
                vec![
                    ("xpos", Prop::Int(x)),
                    ("ypos", Prop::Int(y)),
                    ("width", Prop::Int(fw)),
                    ("height", Prop::Int(fh)),
                    ("zorder", Prop::Int(index as i64)),
                ],
            );
        }
        self.chain(
            id,
            Some(Endpoint::of(&mix)),
            vec![(
                format!("{id}-caps"),
                "capsfilter",
                vec![("caps", Prop::Caps(raw_video(w, h, fps)))],
            )],
        )
    }

    fn audio_mixer(&mut self, node: &Node) -> Endpoint {
        let id = node.id.as_str();
        let mix = self.element(id, format!("{id}-mix"), "audiomixer", vec![]);
        for (index, parent) in node.parents.clone().iter().enumerate() {
            let from = self.take(parent);
            let conv = self.chain(
                id,
                Some(from),
                vec![
                    (format!("{id}-in{index}-convert"), "audioconvert", vec![]),
                    (format!("{id}-in{index}-resample"), "audioresample", vec![]),
                    (
                        format!("{id}-in{index}-caps"),
                        "capsfilter",
                        vec![("caps", Prop::Caps(raw_audio(48000, 2)))],
                    ),
                ],
            );
            self.link(&conv, &mix, Some(format!("sink_{index}")), Vec::new());
        }
        self.chain(
            id,
            Some(Endpoint::of(&mix)),
            vec![(
                format!("{id}-caps"),
                "capsfilter",
                vec![("caps", Prop::Caps(raw_audio(48000, 2)))],
            )],
        )
    }

    /// Routes an encoder's input through the record gate.
    fn gate(&mut self, node: &str, input: Endpoint, main: bool) -> Endpoint {
        let gate = self
            .plan
            .gate
            .get_or_insert_with(|| "gate".to_string())
            .clone();
        if !self.plan.elements.iter().any(|e| e.name == gate) {
            self.element("gate", gate.clone(), "togglerecord", vec![]);
        }
        let before = self.element(
            node,
            format!("{node}-gateq"),
            "queue",
            vec![
                ("max-size-time", Prop::Int(3_000_000_000)),
                ("max-size-bytes", Prop::Int(0)),
                ("max-size-buffers", Prop::Int(0)),
            ],
        );
        self.link(&input, &before, None, Vec::new());
        let (sink, src) = if main {
            ("sink".to_string(), "src".to_string())
        } else {
            let k = self.gate_pads;
            self.gate_pads += 1;
            (format!("sink_{k}"), format!("src_{k}"))
        };
        self.link(&Endpoint::of(&before), &gate, Some(sink), Vec::new());
        Endpoint {
            element: gate,
            pad: Some(src),
            dynamic: None,
        }
    }

    fn h264(&mut self, node: &Node, main: bool) -> Endpoint {
        let id = node.id.as_str();
        let parent = node.parents[0].clone();
        let (_, _, fps) = self.video_size(&parent);
        let input = self.take(&parent);
        let gated = self.gate(id, input, main);
        let bitrate = int(node, "bitrate");
        let keyframes = ((float(node, "keyframeInterval") * fps as f64).round() as i64).max(1);
        let encoder = if text(node, "hardware") == "never" {
            H264Encoder::X264
        } else {
            self.env.h264
        };
        let props = match encoder {
            H264Encoder::X264 => vec![
                ("bitrate", Prop::Int(bitrate)),
                ("key-int-max", Prop::Int(keyframes)),
                ("speed-preset", Prop::Enum(preset(&text(node, "preset")))),
                ("tune", Prop::Enum("zerolatency")),
            ],
            H264Encoder::Va => vec![
                ("bitrate", Prop::Int(bitrate)),
                ("key-int-max", Prop::Int(keyframes)),
            ],
            H264Encoder::V4l2 => vec![(
                "extra-controls",
                Prop::Str(format!(
                    "controls,video_bitrate={},h264_i_frame_period={keyframes}",
                    bitrate * 1000
                )),
            )],
        };
        if !self.plan.encoders.contains(&encoder.factory()) {
            self.plan.encoders.push(encoder.factory());
        }
        let out = self.chain(
            id,
            Some(gated),
            vec![
                (format!("{id}-q"), "queue", vec![]),
                (format!("{id}-enc"), encoder.factory(), props),
                (format!("{id}-parse"), "h264parse", vec![]),
            ],
        );
        self.plan.video_encoders.push(format!("{id}-enc"));
        self.plan.stats.insert(id.to_string(), out.element.clone());
        out
    }

    fn aac(&mut self, node: &Node, main: bool) -> Endpoint {
        let id = node.id.as_str();
        let parent = node.parents[0].clone();
        let input = self.take(&parent);
        let gated = self.gate(id, input, main);
        if !self.plan.encoders.contains(&self.env.aac) {
            self.plan.encoders.push(self.env.aac);
        }
        let bitrate = int(node, "bitrate");
        let out = self.chain(
            id,
            Some(gated),
            vec![
                (format!("{id}-q"), "queue", vec![]),
                // Gaps (a source that lagged) become silence, so audio stays continuous.
                (
                    format!("{id}-fill"),
                    "audiorate",
                    vec![("skip-to-first", Prop::Bool(true))],
                ),
                (format!("{id}-convert"), "audioconvert", vec![]),
                (
                    format!("{id}-enc"),
                    self.env.aac,
                    vec![("bitrate", Prop::Int(bitrate))],
                ),
                (format!("{id}-parse"), "aacparse", vec![]),
            ],
        );
        self.plan.stats.insert(id.to_string(), out.element.clone());
        out
    }

    fn recorder(&mut self, node: &Node, dir: &Path) {
        let id = node.id.as_str();
        let mkv = text(node, "container") == "mkv";
        let (factory, ext, mime, props) = if mkv {
            ("matroskamux", "mkv", "video/x-matroska", vec![])
        } else {
            (
                "mp4mux",
                "mp4",
                "video/mp4",
                vec![(
                    "fragment-duration",
                    Prop::Int(int(node, "fragmentDuration")),
                )],
            )
        };
        let mux = self.element(id, format!("{id}-mux"), factory, props);
        let file = format!("{id}.{ext}");
        let sink = self.element(
            id,
            format!("{id}-file"),
            "filesink",
            vec![
                (
                    "location",
                    Prop::Str(dir.join(&file).to_string_lossy().into_owned()),
                ),
                ("sync", Prop::Bool(false)),
                ("async", Prop::Bool(false)),
                // Each finished fragment goes to the kernel at once instead of waiting in
                // a 64 KiB buffer (a second of a small recording) that a crash would lose.
                ("buffer-mode", Prop::Enum("unbuffered")),
            ],
        );
        self.link(&Endpoint::of(&mux), &sink, None, Vec::new());
        let (mut video, mut audio) = (0, 0);
        for parent in node.parents.clone() {
            let from = self.take(&parent);
            let pad = if output(&self.nodes[&parent]) == Media::H264 {
                video += 1;
                format!("video_{}", video - 1)
            } else {
                audio += 1;
                format!("audio_{}", audio - 1)
            };
            self.link(&from, &mux, Some(pad), Vec::new());
        }
        self.plan.recorders.push(RecorderPlan {
            node: id.to_string(),
            sink: sink.clone(),
            file,
            mime: if video == 0 {
                if mkv { "audio/x-matroska" } else { "audio/mp4" }
            } else {
                mime
            },
        });
    }

    /// An RTMP output: each parent (encoded video or audio) through a leaky queue into an
    /// appsink; `media::rtmp` forwards from there.
    fn stream(&mut self, node: &Node) -> Result<(), CompileError> {
        let id = node.id.as_str();
        let url = text(node, "url");
        let key = text(node, "streamKey");
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(CompileError::Unsupported(
                id.into(),
                "the stream key must not contain spaces or control characters".into(),
            ));
        }
        let location = crate::media::rtmp::location(&url, &key);
        let shown = crate::media::rtmp::location(
            &url,
            &if key.is_empty() {
                String::new()
            } else {
                crate::secrets::mask(&key)
            },
        );
        let mut sinks = Vec::new();
        for (index, parent) in node.parents.clone().into_iter().enumerate() {
            let video = output(&self.nodes[&parent]) == Media::H264;
            let from = self.take(&parent);
            let caps = if video {
                Caps {
                    media: "video/x-h264",
                    fields: vec![
                        ("stream-format", CapsValue::Str("avc".into())),
                        ("alignment", CapsValue::Str("au".into())),
                    ],
                }
            } else {
                Caps {
                    media: "audio/mpeg",
                    fields: vec![("mpegversion", CapsValue::Int(4))],
                }
            };
            let sink = format!("{id}-sink{index}");
            self.chain(
                id,
                Some(from),
                vec![
                    (
                        format!("{id}-q{index}"),
                        "queue",
                        vec![
                            // A stalled stream must never hold up the recording.
                            ("leaky", Prop::Enum("downstream")),
                            ("max-size-buffers", Prop::Int(0)),
                            ("max-size-bytes", Prop::Int(0)),
                            ("max-size-time", Prop::Int(2_000_000_000)),
                        ],
                    ),
                    (
                        format!("{id}-caps{index}"),
                        "capsfilter",
                        vec![("caps", Prop::Caps(caps))],
                    ),
                    (
                        sink.clone(),
                        "appsink",
                        vec![
                            ("sync", Prop::Bool(false)),
                            ("async", Prop::Bool(false)),
                            ("enable-last-sample", Prop::Bool(false)),
                        ],
                    ),
                ],
            );
            sinks.push((sink, video));
        }
        self.plan.streams.push(StreamPlan {
            node: id.to_string(),
            location,
            shown,
            enabled: node
                .options
                .get("enabled")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            sinks,
        });
        Ok(())
    }

    /// JPEG snapshots of a video node at the preview rate.
    fn snapshot(&mut self, owner: &str, from: Endpoint, name: &str, width: i64, key: &str) {
        let (w, h, _) = self.video_size(owner);
        let height = ((h * width / w.max(1)) / 2 * 2).max(2);
        let sink = format!("{name}-jpeg");
        self.chain(
            owner,
            Some(from),
            vec![
                (
                    format!("{name}-q"),
                    "queue",
                    vec![
                        ("leaky", Prop::Enum("downstream")),
                        ("max-size-buffers", Prop::Int(1)),
                        ("max-size-bytes", Prop::Int(0)),
                        ("max-size-time", Prop::Int(0)),
                    ],
                ),
                (
                    format!("{name}-rate"),
                    "videorate",
                    vec![("drop-only", Prop::Bool(true))],
                ),
                (format!("{name}-scale"), "videoscale", vec![]),
                (
                    format!("{name}-caps"),
                    "capsfilter",
                    vec![(
                        "caps",
                        Prop::Caps(Caps {
                            media: "video/x-raw",
                            fields: vec![
                                ("width", CapsValue::Int(width as i32)),
                                ("height", CapsValue::Int(height as i32)),
                                (
                                    "framerate",
                                    CapsValue::Fraction(self.preview_fps.0, self.preview_fps.1),
                                ),
                            ],
                        }),
                    )],
                ),
                (
                    format!("{name}-enc"),
                    "jpegenc",
                    vec![("quality", Prop::Int(80))],
                ),
                (
                    sink.clone(),
                    "appsink",
                    vec![
                        ("max-buffers", Prop::Int(1)),
                        ("drop", Prop::Bool(true)),
                        ("sync", Prop::Bool(false)),
                        ("async", Prop::Bool(false)),
                    ],
                ),
            ],
        );
        self.plan.snapshots.insert(key.to_string(), sink);
    }

    /// Peak/RMS levels of an audio node, ten times a second, on the bus.
    fn level(&mut self, owner: &str, from: Endpoint) {
        let level = format!("{owner}-level");
        self.chain(
            owner,
            Some(from),
            vec![
                (
                    format!("{owner}-levelq"),
                    "queue",
                    vec![
                        ("leaky", Prop::Enum("downstream")),
                        ("max-size-buffers", Prop::Int(4)),
                    ],
                ),
                (
                    level.clone(),
                    "level",
                    vec![
                        ("interval", Prop::Int(100_000_000)),
                        ("post-messages", Prop::Bool(true)),
                    ],
                ),
                (
                    format!("{owner}-levelsink"),
                    "fakesink",
                    vec![("sync", Prop::Bool(false)), ("async", Prop::Bool(false))],
                ),
            ],
        );
        self.plan.levels.insert(owner.to_string(), level);
    }
}

fn preset(name: &str) -> &'static str {
    super::schema::PRESETS
        .iter()
        .copied()
        .find(|p| *p == name)
        .unwrap_or("veryfast")
}

/// Boxes (x, y, w, h) for each input of a layout on a `w`×`h` canvas.
fn layout_boxes(
    layout: &str,
    corner: &str,
    scale: f64,
    w: i64,
    h: i64,
) -> Vec<(i64, i64, i64, i64)> {
    match layout {
        "side-by-side" => vec![(0, 0, w / 2, h), (w / 2, 0, w - w / 2, h)],
        "picture-in-picture" => {
            let (pw, ph) = ((w as f64 * scale) as i64, (h as f64 * scale) as i64);
            let margin = w / 40;
            let x = if corner.ends_with("left") {
                margin
            } else {
                w - pw - margin
            };
            let y = if corner.starts_with("top") {
                margin
            } else {
                h - ph - margin
            };
            vec![(0, 0, w, h), (x, y, pw, ph)]
        }
        _ => vec![(0, 0, w, h)],
    }
}

/// Fits a `pw`×`ph` picture into a box, keeping its aspect, centred.
fn fit(pw: i64, ph: i64, bx: i64, by: i64, bw: i64, bh: i64) -> (i64, i64, i64, i64) {
    if pw <= 0 || ph <= 0 {
        return (bx, by, bw, bh);
    }
    let (fw, fh) = if pw * bh > ph * bw {
        (bw, ph * bw / pw)
    } else {
        (pw * bh / ph, bh)
    };
    (bx + (bw - fw) / 2, by + (bh - fh) / 2, fw, fh)
}

/// Preview frames per second for a refresh interval, as a fraction.
pub fn preview_rate(interval_ms: u64) -> (i32, i32) {
    let interval = interval_ms.clamp(100, 60_000) as i32;
    let g = gcd(1000, interval);
    (1000 / g, interval / g)
}

fn gcd(a: i32, b: i32) -> i32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Compiles a validated graph (see `graph::validate`) into a plan writing into `dir`.
/// `sources` has an entry for every device and network node.
pub fn compile(
    graph: &Graph,
    sources: &BTreeMap<String, SourceSpec>,
    env: &MediaEnv,
    dir: &Path,
    preview_interval_ms: u64,
) -> Result<Plan, CompileError> {
    let nodes: BTreeMap<String, Node> = graph
        .nodes
        .iter()
        .map(|n| (n.id.clone(), n.clone()))
        .collect();

    // Which node is the main recording's video (or, without video, its audio)?
    let root = &nodes[&graph.root];
    let main_encoder = root
        .parents
        .iter()
        .find(|p| nodes[*p].kind == NodeType::H264Encoder)
        .or_else(|| root.parents.first())
        .cloned();
    let main_video = main_encoder
        .as_ref()
        .filter(|e| nodes[*e].kind == NodeType::H264Encoder)
        .map(|e| nodes[e].parents[0].clone());

    // Consumers per node: its children, plus taps for snapshots and meters.
    let mut consumers: BTreeMap<String, usize> = BTreeMap::new();
    let mut snapshot_taps = Vec::new();
    let mut level_taps = Vec::new();
    for node in &graph.nodes {
        let mut n = node.children.len();
        let is_video = output(node) == Media::RawVideo;
        // Pictures of sources and of the main picture, unless a preview node already makes them.
        let previewed = node
            .children
            .iter()
            .any(|c| nodes[c].kind == NodeType::Preview);
        if is_video
            && !previewed
            && (node.parents.is_empty() || main_video.as_deref() == Some(node.id.as_str()))
        {
            snapshot_taps.push(node.id.clone());
            n += 1;
        }
        if output(node) == Media::RawAudio {
            level_taps.push(node.id.clone());
            n += 1;
        }
        consumers.insert(node.id.clone(), n);
    }

    let mut c = Compiler {
        env,
        preview_fps: preview_rate(preview_interval_ms),
        plan: Plan {
            main_video: main_video.clone(),
            ..Plan::default()
        },
        outputs: BTreeMap::new(),
        consumers,
        taken: BTreeMap::new(),
        nodes: nodes.clone(),
        gate_pads: 0,
    };

    for node in &graph.nodes {
        let id = node.id.clone();
        let resolved = || {
            sources
                .get(&id)
                .ok_or_else(|| CompileError::Unresolved(id.clone()))
        };
        let out = match node.kind {
            NodeType::VideoDevice => Some(c.video_source(node, resolved()?)?),
            NodeType::AudioDevice => Some(c.audio_source(node, resolved()?)?),
            NodeType::NetworkSource => {
                if output(node) == Media::RawVideo {
                    Some(c.video_source(node, resolved()?)?)
                } else {
                    Some(c.audio_source(node, resolved()?)?)
                }
            }
            NodeType::TestVideo => {
                let spec = SourceSpec::TestVideo {
                    pattern: text(node, "pattern"),
                    width: int(node, "width") as u32,
                    height: int(node, "height") as u32,
                    fps: int(node, "framerate") as u32,
                };
                let mut inline = node.clone();
                inline.options.insert("slate".into(), Value::Bool(false));
                Some(c.video_source(&inline, &spec)?)
            }
            NodeType::TestAudio => {
                let spec = SourceSpec::TestAudio {
                    wave: text(node, "wave"),
                    frequency: float(node, "frequency"),
                    rate: int(node, "rate") as u32,
                    channels: int(node, "channels") as u32,
                };
                let mut inline = node.clone();
                inline.options.insert("slate".into(), Value::Bool(false));
                Some(c.audio_source(&inline, &spec)?)
            }
            NodeType::Slate => {
                let (w, h, fps) = (
                    int(node, "width"),
                    int(node, "height"),
                    int(node, "framerate"),
                );
                let out = c.slate(
                    &id,
                    &id,
                    &text(node, "text"),
                    int(node, "color"),
                    (w, h, fps),
                );
                c.plan.stats.insert(id.clone(), out.element.clone());
                Some(out)
            }
            NodeType::Compositor => Some(c.compositor(node)),
            NodeType::AudioMixer => Some(c.audio_mixer(node)),
            NodeType::H264Encoder => {
                Some(c.h264(node, main_encoder.as_deref() == Some(id.as_str())))
            }
            NodeType::AacEncoder => Some(c.aac(node, main_encoder.as_deref() == Some(id.as_str()))),
            NodeType::FileRecorder => {
                c.recorder(node, dir);
                None
            }
            NodeType::Preview => {
                let parent = node.parents[0].clone();
                let from = c.take(&parent);
                c.snapshot(&parent, from, &id, int(node, "width"), &id);
                // The preview also stands for its source's picture (no second encoder).
                if let Some(sink) = c.plan.snapshots.get(&id).cloned() {
                    c.plan.snapshots.entry(parent).or_insert(sink);
                }
                None
            }
            NodeType::RtmpOutput => {
                c.stream(node)?;
                None
            }
        };
        if let Some(out) = out {
            c.outputs.insert(id.clone(), out);
            if snapshot_taps.contains(&id) {
                let from = c.take(&id);
                c.snapshot(&id, from, &format!("{id}-snap"), 640, &id);
            }
            if level_taps.contains(&id) {
                let from = c.take(&id);
                c.level(&id, from);
            }
        }
    }
    Ok(c.plan)
}

/// A plan that only watches one device: its picture as JPEG snapshots (video) or its
/// levels (audio), for previews of devices no session uses.
pub fn device_preview(
    video: bool,
    spec: &SourceSpec,
    env: &MediaEnv,
    preview_interval_ms: u64,
) -> Result<Plan, CompileError> {
    let id = "device".to_string();
    let (kind, options) = if video {
        let (w, h, fps) = match spec {
            SourceSpec::V4l2 {
                input:
                    V4l2Input::Raw {
                        width, height, fps, ..
                    }
                    | V4l2Input::Jpeg { width, height, fps },
                ..
            }
            | SourceSpec::TestVideo {
                width, height, fps, ..
            } => (i64::from(*width), i64::from(*height), i64::from(*fps)),
            _ => (1280, 720, 30),
        };
        (
            NodeType::VideoDevice,
            serde_json::json!({"width": w, "height": h, "framerate": fps, "slate": false}),
        )
    } else {
        (
            NodeType::AudioDevice,
            serde_json::json!({"rate": 48000, "channels": 2, "slate": false}),
        )
    };
    let node = Node {
        id: id.clone(),
        kind,
        options: options.as_object().cloned().unwrap_or_default(),
        parents: Vec::new(),
        children: Vec::new(),
        services: Vec::new(),
    };
    let mut c = Compiler {
        env,
        preview_fps: preview_rate(preview_interval_ms),
        plan: Plan::default(),
        outputs: BTreeMap::new(),
        consumers: BTreeMap::from([(id.clone(), 1)]),
        taken: BTreeMap::new(),
        nodes: BTreeMap::from([(id.clone(), node.clone())]),
        gate_pads: 0,
    };
    let out = if video {
        c.video_source(&node, spec)?
    } else {
        c.audio_source(&node, spec)?
    };
    c.outputs.insert(id.clone(), out);
    let from = c.take(&id);
    if video {
        c.snapshot(&id, from, "device-snap", 640, &id);
    } else {
        c.level(&id, from);
    }
    Ok(c.plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{tests::lecture_graph, validate};
    use serde_json::json;

    fn env() -> MediaEnv {
        MediaEnv {
            h264: H264Encoder::X264,
            aac: "voaacenc",
            text_overlay: true,
        }
    }

    fn test_sources() -> BTreeMap<String, SourceSpec> {
        BTreeMap::from([
            (
                "camera".to_string(),
                SourceSpec::TestVideo {
                    pattern: "smpte".into(),
                    width: 1280,
                    height: 720,
                    fps: 30,
                },
            ),
            (
                "microphone".to_string(),
                SourceSpec::TestAudio {
                    wave: "sine".into(),
                    frequency: 440.0,
                    rate: 48000,
                    channels: 2,
                },
            ),
        ])
    }

    fn element<'a>(plan: &'a Plan, name: &str) -> &'a ElementSpec {
        plan.elements
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("{name} not in\n{}", plan.describe()))
    }

    fn has_link(plan: &Plan, from: &str, to: &str) -> bool {
        plan.links.iter().any(|l| l.from == from && l.to == to)
    }

    #[test]
    fn the_lecture_graph_compiles_to_a_gated_guarded_recording() {
        let g = validate(&lecture_graph()).unwrap();
        let plan = compile(&g, &test_sources(), &env(), Path::new("/media/p1"), 1000).unwrap();
        let text = plan.describe();
        assert_eq!(plan.gate.as_deref(), Some("gate"));
        assert_eq!(plan.main_video.as_deref(), Some("camera"));
        // the camera's encoder is the gate's main stream, the audio a secondary one
        assert!(
            plan.links
                .iter()
                .any(|l| l.from == "video-gateq" && l.to_pad.as_deref() == Some("sink")),
            "{text}"
        );
        assert!(
            plan.links
                .iter()
                .any(|l| l.from == "audio-gateq" && l.to_pad.as_deref() == Some("sink_0")),
            "{text}"
        );
        assert_eq!(element(&plan, "video-enc").factory, "x264enc");
        assert_eq!(
            element(&plan, "recording-mux").props,
            vec![("fragment-duration", Prop::Int(1000))]
        );
        assert_eq!(
            element(&plan, "recording-file").props[0].1,
            Prop::Str("/media/p1/recording.mp4".into())
        );
        assert_eq!(
            plan.recorders,
            vec![RecorderPlan {
                node: "recording".into(),
                file: "recording.mp4".into(),
                mime: "video/mp4",
                sink: "recording-file".into(),
            }]
        );
        // sources are guarded by a slate / silence
        assert_eq!(
            plan.fallbacks["camera"],
            FallbackPlan {
                mixer: "camera-guard".into(),
                watch: "camera-mainq".into(),
                source: "camera-src".into()
            }
        );
        assert!(
            has_link(&plan, "camera-slate-text", "camera-guard"),
            "{text}"
        );
        assert!(
            has_link(&plan, "microphone-silence-caps", "microphone-guard"),
            "{text}"
        );
        // the camera feeds its encoder, the preview node and its own snapshot tap
        assert!(has_link(&plan, "camera-out", "camera-tee"), "{text}");
        assert_eq!(plan.snapshots["preview"], "preview-jpeg");
        assert_eq!(
            plan.snapshots["camera"], "preview-jpeg",
            "the preview serves for the camera"
        );
        assert!(
            !plan.elements.iter().any(|e| e.name == "camera-snap-jpeg"),
            "no second JPEG encoder"
        );
        assert_eq!(plan.levels["microphone"], "microphone-level");
        assert_eq!(plan.encoders, ["x264enc", "voaacenc"]);
        // every link names existing elements
        for l in &plan.links {
            element(&plan, &l.from);
            element(&plan, &l.to);
        }
    }

    #[test]
    fn side_by_side_places_both_inputs_and_copies_record_separately() {
        let graph: Graph = serde_json::from_value(json!({
            "root": "main",
            "nodes": [
                {"id": "cam", "type": "videoDevice", "children": ["mix", "cam-enc"]},
                {"id": "slides", "type": "videoDevice", "options": {"device": "role:hdmi", "width": 1920, "height": 1080}, "children": ["mix"]},
                {"id": "mix", "type": "compositor", "parents": ["cam", "slides"], "children": ["main-enc"]},
                {"id": "main-enc", "type": "h264Encoder", "children": ["main"]},
                {"id": "cam-enc", "type": "h264Encoder", "options": {"bitrate": 1500}, "children": ["cam-copy"]},
                {"id": "main", "type": "fileRecorder"},
                {"id": "cam-copy", "type": "fileRecorder", "options": {"container": "mkv"}}
            ]
        }))
        .unwrap();
        let g = validate(&graph).unwrap();
        let mut sources = test_sources();
        sources.insert("cam".into(), sources["camera"].clone());
        sources.insert(
            "slides".into(),
            SourceSpec::Missing {
                name: "HDMI grabber".into(),
            },
        );
        let plan = compile(&g, &sources, &env(), Path::new("/m"), 500).unwrap();
        let text = plan.describe();
        let pads: Vec<_> = plan.links.iter().filter(|l| l.to == "mix-mix").collect();
        assert_eq!(pads.len(), 2, "{text}");
        assert_eq!(
            pads[0].to_pad_props[..4],
            [
                ("xpos", Prop::Int(0)),
                ("ypos", Prop::Int(180)),
                ("width", Prop::Int(640)),
                ("height", Prop::Int(360))
            ]
        );
        assert_eq!(pads[1].to_pad_props[0], ("xpos", Prop::Int(640)));
        assert_eq!(plan.main_video.as_deref(), Some("mix"));
        assert!(
            plan.links
                .iter()
                .any(|l| l.from == "main-enc-gateq" && l.to_pad.as_deref() == Some("sink"))
        );
        assert!(
            plan.links
                .iter()
                .any(|l| l.from == "cam-enc-gateq" && l.to_pad.as_deref() == Some("sink_0"))
        );
        assert!(
            plan.recorders
                .iter()
                .any(|r| r.node == "cam-copy" && r.file == "cam-copy.mkv")
        );
        // a missing device records its slate, with the device's name on it
        assert!(text.contains("No signal: HDMI grabber"), "{text}");
        assert!(!plan.fallbacks.contains_key("slides"));
        assert!(
            text.contains("framerate=2/1"),
            "500 ms previews are 2 per second\n{text}"
        );
    }

    #[test]
    fn secrets_are_masked_in_the_description() {
        let graph: Graph = serde_json::from_value(json!({
            "root": "rec",
            "nodes": [
                {"id": "ipcam", "type": "networkSource", "options": {"url": "rtsp://10.0.0.9/main"}, "children": ["enc"]},
                {"id": "enc", "type": "h264Encoder", "children": ["rec"]},
                {"id": "rec", "type": "fileRecorder"}
            ]
        }))
        .unwrap();
        let g = validate(&graph).unwrap();
        let sources = BTreeMap::from([(
            "ipcam".to_string(),
            SourceSpec::Network {
                uri: "rtsp://admin:hunter22@10.0.0.9/main".into(),
                shown: "rtsp://admin:••••@10.0.0.9/main".into(),
            },
        )]);
        let plan = compile(&g, &sources, &env(), Path::new("/m"), 1000).unwrap();
        let text = plan.describe();
        assert!(!text.contains("hunter22"), "{text}");
        assert!(text.contains("rtsp://admin:••••@10.0.0.9/main"));
        assert!(
            plan.links
                .iter()
                .any(|l| l.from == "ipcam-src" && l.dynamic == Some(Media::RawVideo))
        );
    }

    #[test]
    fn layouts_fit_pictures_keeping_their_aspect() {
        assert_eq!(fit(1920, 1080, 0, 0, 640, 720), (0, 180, 640, 360));
        assert_eq!(fit(640, 480, 0, 0, 1280, 720), (160, 0, 960, 720));
        let pip = layout_boxes("picture-in-picture", "top-left", 0.25, 1280, 720);
        assert_eq!(pip[1], (32, 32, 320, 180));
        assert_eq!(preview_rate(1000), (1, 1));
        assert_eq!(preview_rate(250), (4, 1));
        assert_eq!(preview_rate(1500), (2, 3));
    }
}
