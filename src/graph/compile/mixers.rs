//! Mixing nodes: the compositor that lays several pictures out on one canvas (full,
//! side by side, picture in picture) and the audio mixer, each with its output held to
//! the one raw format.

use super::{Compiler, Endpoint, float, int, raw_audio, raw_video, text};
use crate::graph::plan::Prop;
use crate::model::Node;

impl Compiler<'_> {
    pub(super) fn compositor(&mut self, node: &Node) -> Endpoint {
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

    pub(super) fn audio_mixer(&mut self, node: &Node) -> Endpoint {
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
}

/// Boxes (x, y, w, h) for each input of a layout on a `w`×`h` canvas.
pub(super) fn layout_boxes(
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
pub(super) fn fit(pw: i64, ph: i64, bx: i64, by: i64, bw: i64, bh: i64) -> (i64, i64, i64, i64) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::compile::preview_rate;

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
