//! Compiles a validated graph into a pipeline plan (`graph::plan`): GStreamer elements
//! with typed properties and the links between them. Pure data, no GStreamer.
//!
//! What the plan adds around the nodes the author drew:
//! - every video/audio source is normalised to one raw format and, unless told otherwise,
//!   laid over a slate (or mixed with silence), so a source that loses its signal does
//!   not stop the recording or leave a hole in its timeline (`sources`);
//! - every encoder input passes one shared record gate (`togglerecord`) whose main stream
//!   is the main recording's video: start, pause and resume open and close the gate, and
//!   the gate cuts paused spans out so the files have no gaps, with audio cut to match
//!   (`encoders`);
//! - a node feeding several consumers gets a tee with a queue per branch (here);
//! - taps for JPEG snapshots (video) and level meters (audio) on sources and mixes
//!   (`taps`).

mod encoders;
mod mixers;
mod outputs;
mod sources;
mod taps;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::plan::{
    Caps, CapsValue, CompileError, ElementSpec, LinkSpec, MediaEnv, Plan, Prop, SourceSpec,
    V4l2Input,
};
use super::{Media, output};
use crate::model::{Graph, Node, NodeType};
pub use taps::preview_rate;

/// Raw video in the one format every source is normalised to.
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

/// Raw audio in the one format every source is normalised to.
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

/// The plan under construction, with what it needs to know of the graph.
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

impl Compiler<'_> {
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
    #[expect(clippy::expect_used, reason = "invariant: a chain has elements")]
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
}

/// Which encoder feeds the main recording (its video, or without video its audio) and
/// which node's picture that video is.
fn main_streams(graph: &Graph, nodes: &BTreeMap<String, Node>) -> (Option<String>, Option<String>) {
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
    (main_encoder, main_video)
}

/// Consumers per node (its children, plus the taps it gets), and which nodes get a
/// snapshot tap and which a level meter.
struct Taps {
    consumers: BTreeMap<String, usize>,
    snapshots: Vec<String>,
    levels: Vec<String>,
}

fn taps(graph: &Graph, nodes: &BTreeMap<String, Node>, main_video: Option<&str>) -> Taps {
    let mut taps = Taps {
        consumers: BTreeMap::new(),
        snapshots: Vec::new(),
        levels: Vec::new(),
    };
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
            && (node.parents.is_empty() || main_video == Some(node.id.as_str()))
        {
            taps.snapshots.push(node.id.clone());
            n += 1;
        }
        if output(node) == Media::RawAudio {
            taps.levels.push(node.id.clone());
            n += 1;
        }
        taps.consumers.insert(node.id.clone(), n);
    }
    taps
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
    let (main_encoder, main_video) = main_streams(graph, &nodes);
    let taps = taps(graph, &nodes, main_video.as_deref());
    let mut c = Compiler {
        env,
        preview_fps: preview_rate(preview_interval_ms),
        plan: Plan {
            main_video,
            ..Plan::default()
        },
        outputs: BTreeMap::new(),
        consumers: taps.consumers,
        taken: BTreeMap::new(),
        nodes,
        gate_pads: 0,
    };
    for node in &graph.nodes {
        let id = node.id.clone();
        let main = main_encoder.as_deref() == Some(id.as_str());
        let Some(out) = c.node(node, sources, dir, main)? else {
            continue;
        };
        c.outputs.insert(id.clone(), out);
        if taps.snapshots.contains(&id) {
            let from = c.take(&id);
            c.snapshot(&id, from, &format!("{id}-snap"), 640, &id);
        }
        if taps.levels.contains(&id) {
            let from = c.take(&id);
            c.level(&id, from);
        }
    }
    Ok(c.plan)
}

impl Compiler<'_> {
    /// Adds one node's elements; its output, for the nodes that have one. `main`: the node
    /// is the encoder of the main recording.
    fn node(
        &mut self,
        node: &Node,
        sources: &BTreeMap<String, SourceSpec>,
        dir: &Path,
        main: bool,
    ) -> Result<Option<Endpoint>, CompileError> {
        let id = node.id.as_str();
        let resolved = || {
            sources
                .get(id)
                .ok_or_else(|| CompileError::Unresolved(id.to_string()))
        };
        // Test signals are generated in the pipeline: nothing to guard them against.
        let unguarded = || {
            let mut inline = node.clone();
            inline.options.insert("slate".into(), Value::Bool(false));
            inline
        };
        let out = match node.kind {
            NodeType::VideoDevice => self.video_source(node, resolved()?)?,
            NodeType::AudioDevice => self.audio_source(node, resolved()?)?,
            NodeType::NetworkSource if output(node) == Media::RawVideo => {
                self.video_source(node, resolved()?)?
            }
            NodeType::NetworkSource => self.audio_source(node, resolved()?)?,
            NodeType::TestVideo => {
                let spec = SourceSpec::TestVideo {
                    pattern: text(node, "pattern"),
                    width: int(node, "width") as u32,
                    height: int(node, "height") as u32,
                    fps: int(node, "framerate") as u32,
                };
                self.video_source(&unguarded(), &spec)?
            }
            NodeType::TestAudio => {
                let spec = SourceSpec::TestAudio {
                    wave: text(node, "wave"),
                    frequency: float(node, "frequency"),
                    rate: int(node, "rate") as u32,
                    channels: int(node, "channels") as u32,
                };
                self.audio_source(&unguarded(), &spec)?
            }
            NodeType::Slate => {
                let size = (
                    int(node, "width"),
                    int(node, "height"),
                    int(node, "framerate"),
                );
                let out = self.slate(id, id, &text(node, "text"), int(node, "color"), size);
                self.plan.stats.insert(id.to_string(), out.element.clone());
                out
            }
            NodeType::Compositor => self.compositor(node),
            NodeType::AudioMixer => self.audio_mixer(node),
            NodeType::H264Encoder => self.h264(node, main),
            NodeType::AacEncoder => self.aac(node, main),
            NodeType::FileRecorder => {
                self.recorder(node, dir);
                return Ok(None);
            }
            NodeType::Preview => {
                let parent = node.parents[0].clone();
                let from = self.take(&parent);
                self.snapshot(&parent, from, id, int(node, "width"), id);
                // The preview also stands for its source's picture (no second encoder).
                if let Some(sink) = self.plan.snapshots.get(id).cloned() {
                    self.plan.snapshots.entry(parent).or_insert(sink);
                }
                return Ok(None);
            }
            NodeType::RtmpOutput => {
                self.stream(node)?;
                return Ok(None);
            }
        };
        Ok(Some(out))
    }
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
    use crate::graph::plan::{FallbackPlan, H264Encoder, RecorderPlan};
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
    fn video_and_audio_sources_share_network_missing_and_wrong_kind_rules() {
        let alsa = SourceSpec::Alsa {
            path: "hw:1".into(),
        };
        let v4l2 = SourceSpec::V4l2 {
            path: "/dev/video0".into(),
            input: V4l2Input::Any,
        };
        assert_eq!(
            device_preview(true, &alsa, &env(), 1000),
            Err(CompileError::Unsupported(
                "device".into(),
                "an audio device cannot feed a video node".into()
            ))
        );
        assert_eq!(
            device_preview(false, &v4l2, &env(), 1000),
            Err(CompileError::Unsupported(
                "device".into(),
                "a video device cannot feed an audio node".into()
            ))
        );
        let network = SourceSpec::Network {
            uri: "rtsp://cam/audio".into(),
            shown: "rtsp://cam/audio".into(),
        };
        let plan = device_preview(false, &network, &env(), 1000).unwrap();
        assert!(
            plan.links
                .iter()
                .any(|l| l.from == "device-src" && l.dynamic == Some(Media::RawAudio)),
            "{}",
            plan.describe()
        );
        let missing = SourceSpec::Missing {
            name: "Camera".into(),
        };
        let plan = device_preview(true, &missing, &env(), 1000).unwrap();
        assert_eq!(
            plan.stats["device"],
            "device-slate-text",
            "{}",
            plan.describe()
        );
        assert!(plan.describe().contains("No signal: Camera"));
        let silent = device_preview(false, &missing, &env(), 1000).unwrap();
        assert_eq!(silent.stats["device"], "device-silence-caps");
    }
}
