//! Output nodes: file recorders (fragmented MP4 or Matroska written straight to the
//! package directory) and RTMP streams (appsinks behind leaky queues, so a stalled stream
//! never holds up the recording; `media::rtmp` forwards from them).

use std::path::Path;

use serde_json::Value;

use super::{Compiler, Endpoint, int, text};
use crate::graph::plan::{Caps, CapsValue, CompileError, Prop, RecorderPlan, StreamPlan};
use crate::graph::{Media, output};
use crate::model::Node;

impl Compiler<'_> {
    pub(super) fn recorder(&mut self, node: &Node, dir: &Path) {
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
    pub(super) fn stream(&mut self, node: &Node) -> Result<(), CompileError> {
        let id = node.id.as_str();
        let url = text(node, "url");
        let key = text(node, "streamKey");
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(CompileError::Unsupported(
                id.into(),
                "the stream key must not contain spaces or control characters".into(),
            ));
        }
        let shown_key = if key.is_empty() {
            String::new()
        } else {
            crate::secrets::mask(&key)
        };
        let mut sinks = Vec::new();
        for (index, parent) in node.parents.clone().into_iter().enumerate() {
            let video = output(&self.nodes[&parent]) == Media::H264;
            let from = self.take(&parent);
            sinks.push((self.stream_branch(id, index, from, video), video));
        }
        self.plan.streams.push(StreamPlan {
            node: id.to_string(),
            location: rtmp_location(&url, &key),
            shown: rtmp_location(&url, &shown_key),
            enabled: node
                .options
                .get("enabled")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            sinks,
        });
        Ok(())
    }

    /// One encoded stream of an RTMP output, from `from` into its appsink; the appsink's
    /// name.
    fn stream_branch(&mut self, id: &str, index: usize, from: Endpoint, video: bool) -> String {
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
        sink
    }
}

/// The RTMP address with the stream key appended, as platforms give them separately.
fn rtmp_location(url: &str, key: &str) -> String {
    if key.is_empty() {
        url.to_string()
    } else {
        format!("{}/{key}", url.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_last_path_part() {
        assert_eq!(rtmp_location("rtmp://a/live", "k1"), "rtmp://a/live/k1");
        assert_eq!(rtmp_location("rtmp://a/live/", "k1"), "rtmp://a/live/k1");
        assert_eq!(rtmp_location("rtmp://a/live/k0", ""), "rtmp://a/live/k0");
    }
}
