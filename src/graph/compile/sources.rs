//! Source nodes: devices, test signals, network streams and slates, each normalised to
//! the one raw format and, unless the author turned it off, guarded by a slate (video) or
//! silence (audio) so a source that loses its signal leaves no hole in the timeline.

use super::{Compiler, Endpoint, Part, flag, int, raw_audio, raw_video};
use crate::graph::Media;
use crate::graph::plan::{
    Caps, CapsValue, CompileError, FallbackPlan, Prop, SourceSpec, V4l2Input,
};
use crate::model::Node;

/// The colour of the "no signal" slate laid under every video source.
const SLATE_GREY: i64 = 0xff20_2020;

impl Compiler<'_> {
    pub(super) fn normalise_video(
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
    pub(super) fn slate(
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

    /// What video and audio sources share: a network stream decoded by `uridecodebin`
    /// (its pad appears at run time), a missing device (`None`: only the slate or silence
    /// records), or a device of the other kind, which cannot feed this node.
    fn common_source(
        &mut self,
        id: &str,
        src: &str,
        spec: &SourceSpec,
        media: Media,
    ) -> Result<Option<Endpoint>, CompileError> {
        match spec {
            SourceSpec::Network { uri, shown } => {
                let name = self.element(
                    id,
                    src.to_string(),
                    "uridecodebin",
                    vec![
                        (
                            "uri",
                            Prop::Secret {
                                value: uri.clone(),
                                shown: shown.clone(),
                            },
                        ),
                        // A live pipeline ignores a child's asynchronous state change, so a
                        // stream reopened while recording would stop at PAUSED (connected,
                        // never sent PLAY): the bin completes its own state changes instead.
                        ("async-handling", Prop::Bool(true)),
                    ],
                );
                Ok(Some(Endpoint {
                    element: name,
                    pad: None,
                    dynamic: Some(media),
                }))
            }
            SourceSpec::Missing { .. } => Ok(None),
            _ => {
                let (other, this) = if media == Media::RawVideo {
                    ("an audio", "a video")
                } else {
                    ("a video", "an audio")
                };
                Err(CompileError::Unsupported(
                    id.into(),
                    format!("{other} device cannot feed {this} node"),
                ))
            }
        }
    }

    pub(super) fn video_source(
        &mut self,
        node: &Node,
        spec: &SourceSpec,
    ) -> Result<Endpoint, CompileError> {
        let id = node.id.as_str();
        let (w, h, fps) = (
            int(node, "width"),
            int(node, "height"),
            int(node, "framerate"),
        );
        let src = format!("{id}-src");
        let raw = match spec {
            SourceSpec::V4l2 { path, input } => {
                let parts = v4l2_parts(id, &src, path, input);
                Some(self.chain(id, None, parts))
            }
            SourceSpec::TestVideo {
                pattern,
                width,
                height,
                fps,
            } => {
                let caps = raw_video(i64::from(*width), i64::from(*height), i64::from(*fps));
                let parts = test_parts(
                    id,
                    &src,
                    "videotestsrc",
                    &[("pattern", Prop::Str(pattern.clone()))],
                    caps,
                );
                Some(self.chain(id, None, parts))
            }
            other => self.common_source(id, &src, other, Media::RawVideo)?,
        };
        let label = match spec {
            SourceSpec::Missing { name } => format!("No signal: {name}"),
            _ => format!("No signal: {id}"),
        };
        let slate_name = format!("{id}-slate");
        let Some(raw) = raw else {
            let slate = self.slate(id, &slate_name, &label, SLATE_GREY, (w, h, fps));
            self.plan
                .stats
                .insert(id.to_string(), slate.element.clone());
            return Ok(slate);
        };
        let normal = self.normalise_video(id, raw, w, h, fps);
        self.plan.stats.insert(id.to_string(), src.clone());
        if !flag(node, "slate") {
            return Ok(normal);
        }
        // Drawn at a quarter of the size and scaled up only when it shows: while the source
        // runs, the slate under it costs next to nothing.
        let small = ((w / 4 / 2 * 2).max(16), (h / 4 / 2 * 2).max(16));
        let slate = self.slate(id, &slate_name, &label, SLATE_GREY, (small.0, small.1, fps));
        Ok(self.guard(id, normal, slate, src, raw_video(w, h, fps)))
    }

    pub(super) fn audio_source(
        &mut self,
        node: &Node,
        spec: &SourceSpec,
    ) -> Result<Endpoint, CompileError> {
        let id = node.id.as_str();
        let (rate, channels) = (int(node, "rate"), int(node, "channels"));
        let src = format!("{id}-src");
        let raw = match spec {
            SourceSpec::Alsa { path } => {
                let parts = vec![(
                    src.clone(),
                    "alsasrc",
                    vec![("device", Prop::Str(path.clone()))],
                )];
                Some(self.chain(id, None, parts))
            }
            SourceSpec::TestAudio {
                wave,
                frequency,
                rate,
                channels,
            } => {
                let caps = raw_audio(i64::from(*rate), i64::from(*channels));
                let wave = [
                    ("wave", Prop::Str(wave.clone())),
                    ("freq", Prop::Float(*frequency)),
                    ("volume", Prop::Float(0.5)),
                ];
                let parts = test_parts(id, &src, "audiotestsrc", &wave, caps);
                Some(self.chain(id, None, parts))
            }
            other => self.common_source(id, &src, other, Media::RawAudio)?,
        };
        let silence_name = format!("{id}-silence");
        let Some(raw) = raw else {
            let silence = self.silence(id, &silence_name, rate, channels);
            self.plan
                .stats
                .insert(id.to_string(), silence.element.clone());
            return Ok(silence);
        };
        let normal = self.normalise_audio(id, raw, rate, channels);
        self.plan.stats.insert(id.to_string(), src.clone());
        if !flag(node, "slate") {
            return Ok(normal);
        }
        let silence = self.silence(id, &silence_name, rate, channels);
        Ok(self.guard(id, normal, silence, src, raw_audio(rate, channels)))
    }
}

/// A live test source (`videotestsrc`, `audiotestsrc`) with its own properties, held to
/// the format it was asked for.
fn test_parts(
    id: &str,
    src: &str,
    factory: &'static str,
    props: &[(&'static str, Prop)],
    caps: Caps,
) -> Vec<Part> {
    let mut source_props = vec![("is-live", Prop::Bool(true))];
    source_props.extend(props.iter().cloned());
    vec![
        (src.to_string(), factory, source_props),
        (
            format!("{id}-srccaps"),
            "capsfilter",
            vec![("caps", Prop::Caps(caps))],
        ),
    ]
}

/// A V4L2 device delivering what it was found to deliver: raw frames in their format,
/// motion JPEG decoded first, or whatever the device and GStreamer agree on.
fn v4l2_parts(id: &str, src: &str, path: &str, input: &V4l2Input) -> Vec<Part> {
    let mut parts = vec![(
        src.to_string(),
        "v4l2src",
        vec![("device", Prop::Str(path.to_string()))],
    )];
    let caps = |media: &'static str, format: Option<&str>, width: u32, height: u32, fps: u32| {
        let mut fields = Vec::new();
        if let Some(format) = format {
            fields.push(("format", CapsValue::Str(format.to_string())));
        }
        fields.extend([
            ("width", CapsValue::Int(width as i32)),
            ("height", CapsValue::Int(height as i32)),
            ("framerate", CapsValue::Fraction(fps as i32, 1)),
        ]);
        (
            format!("{id}-srccaps"),
            "capsfilter",
            vec![("caps", Prop::Caps(Caps { media, fields }))],
        )
    };
    match input {
        V4l2Input::Raw {
            format,
            width,
            height,
            fps,
        } => parts.push(caps("video/x-raw", Some(format), *width, *height, *fps)),
        V4l2Input::Jpeg { width, height, fps } => {
            parts.push(caps("image/jpeg", None, *width, *height, *fps));
            parts.push((format!("{id}-dec"), "jpegdec", vec![]));
        }
        V4l2Input::Any => {}
    }
    parts
}
