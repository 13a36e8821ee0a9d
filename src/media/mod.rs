//! GStreamer: turning plans into pipelines, running capture sessions (gate, fallbacks,
//! snapshots, levels, statistics), finalising recordings, and device previews.
//!
//! Nothing here knows about HTTP, the store or the schedule; the engine drives it. Nothing
//! here waits for a running pipeline either: what takes time is reported as it happens.

pub mod build;
pub mod durability;
mod error;
pub mod finalize;
pub mod rtmp;
pub mod session;

pub use error::Error;

use std::sync::OnceLock;

use gstreamer as gst;

use crate::graph::plan::{H264Encoder, MediaEnv};

static INIT: OnceLock<Result<MediaEnv, Error>> = OnceLock::new();

/// Initialises GStreamer once, registers the element castd links in (togglerecord), and
/// finds what the machine offers.
pub fn init() -> Result<MediaEnv, Error> {
    INIT.get_or_init(|| {
        gst::init().map_err(|e| Error::Init(e.to_string()))?;
        gsttogglerecord::plugin_register_static().map_err(|e| Error::Register(e.to_string()))?;
        for needed in [
            "videotestsrc",
            "audiotestsrc",
            "videoconvert",
            "videoscale",
            "videorate",
            "audioconvert",
            "audioresample",
            "audiorate",
            "compositor",
            "audiomixer",
            "x264enc",
            "h264parse",
            "aacparse",
            "mp4mux",
            "matroskamux",
            "qtdemux",
            "jpegenc",
            "appsink",
            "level",
            "filesink",
            "tee",
            "queue",
        ] {
            if gst::ElementFactory::find(needed).is_none() {
                return Err(Error::MissingElement(needed));
            }
        }
        let has = |f: &str| gst::ElementFactory::find(f).is_some();
        // A hardware encoder's factory exists only when its device was found at plugin scan.
        let h264 = if has("vah264enc") {
            H264Encoder::Va
        } else if has("v4l2h264enc") {
            H264Encoder::V4l2
        } else {
            H264Encoder::X264
        };
        let aac = if has("voaacenc") {
            "voaacenc"
        } else if has("avenc_aac") {
            "avenc_aac"
        } else {
            return Err(Error::NoAacEncoder);
        };
        let env = MediaEnv {
            h264,
            aac,
            text_overlay: has("textoverlay"),
        };
        log::info!("media: H.264 encoder {}, AAC encoder {aac}", h264.factory());
        Ok(env)
    })
    .clone()
}
