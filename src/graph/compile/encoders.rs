//! Encoder nodes and the record gate in front of them: every encoder's input passes one
//! shared `togglerecord` whose main stream is the main recording's video, so start, pause
//! and resume open and close all recordings at once, with audio cut to match.

use super::{Compiler, Endpoint, float, int, text};
use crate::graph::plan::{H264Encoder, Prop};
use crate::model::Node;

impl Compiler<'_> {
    /// Routes an encoder's input through the record gate.
    pub(super) fn gate(&mut self, node: &str, input: Endpoint, main: bool) -> Endpoint {
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

    pub(super) fn h264(&mut self, node: &Node, main: bool) -> Endpoint {
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

    pub(super) fn aac(&mut self, node: &Node, main: bool) -> Endpoint {
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
}

/// The x264 speed preset of a name, `veryfast` for one it does not know.
fn preset(name: &str) -> &'static str {
    crate::graph::schema::PRESETS
        .iter()
        .copied()
        .find(|p| *p == name)
        .unwrap_or("veryfast")
}
