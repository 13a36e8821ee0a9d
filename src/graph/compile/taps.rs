//! Taps beside the recording: JPEG snapshots of video nodes at the preview rate and
//! level meters on audio nodes, each behind a leaky queue so a slow reader never holds up
//! the media it watches.

use super::{Compiler, Endpoint};
use crate::graph::plan::{Caps, CapsValue, Prop};

impl Compiler<'_> {
    /// JPEG snapshots of a video node at the preview rate.
    pub(super) fn snapshot(
        &mut self,
        owner: &str,
        from: Endpoint,
        name: &str,
        width: i64,
        key: &str,
    ) {
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
    pub(super) fn level(&mut self, owner: &str, from: Endpoint) {
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

/// Preview frames per second for a refresh interval, as a fraction.
pub fn preview_rate(interval_ms: u64) -> (i32, i32) {
    let interval = interval_ms.clamp(100, 60_000) as i32;
    let g = gcd(1000, interval);
    (1000 / g, interval / g)
}

fn gcd(a: i32, b: i32) -> i32 {
    if b == 0 { a } else { gcd(b, a % b) }
}
