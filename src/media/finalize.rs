//! Finishing recordings: a fragmented MP4 (crash-safe while recording) becomes a
//! fast-start MP4 (index first, plays at once when streamed), and every file gets its
//! size, duration, MD5 and a thumbnail.

use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_pbutils as gst_pbutils;
use md5::Digest as _;

use super::Error;

/// Facts about a finished file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileFacts {
    pub size: u64,
    pub duration_ms: Option<i64>,
    pub md5: String,
}

fn uri(path: &Path) -> Result<String, Error> {
    gst::glib::filename_to_uri(path, None)
        .map(|u| u.to_string())
        .map_err(|e| Error::refused(format!("{}: {e}", path.display())))
}

/// Runs `pipeline` until EOS or error, at most `timeout`.
#[expect(clippy::expect_used, reason = "invariant: a pipeline has a bus")]
fn run_to_end(pipeline: &gst::Pipeline, timeout: Duration) -> Result<(), Error> {
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| Error::refused(format!("cannot start: {e}")))?;
    let bus = pipeline.bus().expect("a pipeline has a bus");
    let result = match bus.timed_pop_filtered(
        gst::ClockTime::from_nseconds(timeout.as_nanos() as u64),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    ) {
        Some(msg) => match msg.view() {
            gst::MessageView::Error(e) => Err(Error::Bus {
                src: msg.src().map(|s| s.name().to_string()).unwrap_or_default(),
                error: e.error().to_string(),
                debug: e.debug().map(|d| d.to_string()),
            }),
            _ => Ok(()),
        },
        None => Err(Error::Timeout {
            what: "did not finish",
            after: timeout,
        }),
    };
    let _ = pipeline.set_state(gst::State::Null);
    result
}

/// How far one stream may run ahead of another while a recording is rewritten.
const REMUX_QUEUE: Duration = Duration::from_secs(30);

fn make(factory: &str) -> Result<gst::Element, Error> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|e| Error::Element {
            factory: factory.to_string(),
            message: e.to_string(),
        })
}

/// A failure of the pipeline's plumbing (adding or linking elements).
fn plumbing(e: impl std::fmt::Display) -> Error {
    Error::refused(e.to_string())
}

/// Rewrites a (fragmented) MP4 as a fast-start MP4 in place: written next to it, synced,
/// then renamed over it, so a crash leaves either the old or the new file, never half.
pub fn faststart(path: &Path) -> Result<(), Error> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::refused("no directory"))?;
    let tmp = path.with_extension("faststart.tmp");
    let pipeline = gst::Pipeline::new();
    let src = make("filesrc")?;
    src.set_property("location", path);
    let demux = make("qtdemux")?;
    let mux = make("mp4mux")?;
    mux.set_property("faststart", true);
    mux.set_property("faststart-file", dir.join(".faststart-moov.tmp"));
    let sink = make("filesink")?;
    sink.set_property("location", &tmp);
    pipeline
        .add_many([&src, &demux, &mux, &sink])
        .map_err(plumbing)?;
    src.link(&demux).map_err(plumbing)?;
    mux.link(&sink).map_err(plumbing)?;
    let weak = pipeline.downgrade();
    let mux_for_pads = mux.clone();
    demux.connect_pad_added(move |_, pad| {
        if let Some(pipeline) = weak.upgrade() {
            remux_stream(&pipeline, pad, &mux_for_pads);
        }
    });
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    // Generous: remuxing reads and writes at disk speed; allow 1 s per 20 MB plus a minute.
    let timeout = Duration::from_secs(60 + size / 20_000_000);
    if let Err(e) = run_to_end(&pipeline, timeout) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::refused(format!(
            "cannot rewrite {}: {e}",
            path.display()
        )));
    }
    let _ = std::fs::remove_file(dir.join(".faststart-moov.tmp"));
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Error::io(format!("cannot replace {}", path.display()), e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Links a stream the demuxer found to the muxer, through a bounded queue and its parser;
/// streams other than H.264 and AAC are left out.
#[expect(clippy::expect_used, reason = "invariant: queue exists; queue sink")]
fn remux_stream(pipeline: &gst::Pipeline, pad: &gst::Pad, mux: &gst::Element) {
    let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
    let Some(name) = caps.structure(0).map(|s| s.name().to_string()) else {
        return;
    };
    let (parser, template) = match name.as_str() {
        "video/x-h264" => ("h264parse", "video_%u"),
        "audio/mpeg" => ("aacparse", "audio_%u"),
        other => {
            log::warn!("finalise: skipping a {other} stream");
            return;
        }
    };
    let Ok(parse) = make(parser) else { return };
    let queue = make("queue").expect("queue exists");
    // Bounded by time only. The demuxer reads at disk speed and the muxer takes a
    // sample only when every stream has one, so an unbounded queue ended up holding
    // nearly the whole file (234 MB of RAM for a 236 MB ten-minute lecture: a six-hour
    // one would not fit). The bound must still let one stream run ahead of the other
    // by a fragment or more without stalling the demuxer that feeds both; recordings
    // interleave every second, so 30 s is ample and costs at most 30 s of media.
    queue.set_property("max-size-buffers", 0u32);
    queue.set_property("max-size-bytes", 0u32);
    queue.set_property("max-size-time", REMUX_QUEUE.as_nanos() as u64);
    if pipeline.add_many([&queue, &parse]).is_err() {
        return;
    }
    let _ = queue.sync_state_with_parent();
    let _ = parse.sync_state_with_parent();
    let linked = pad
        .link(&queue.static_pad("sink").expect("queue sink"))
        .is_ok()
        && queue.link(&parse).is_ok()
        && mux.request_pad_simple(template).is_some_and(|mux_pad| {
            keep_first_caps_unless_the_format_changes(&mux_pad);
            parse
                .static_pad("src")
                .is_some_and(|p| p.link(&mux_pad).is_ok())
        });
    if !linked {
        log::warn!("finalise: cannot link the {name} stream");
    }
}

/// qtdemux reads a fragmented MP4 fragment by fragment and announces the video's caps
/// again for many of them, alternating between the real frame rate and 0/1 ("variable");
/// mp4mux writes a new sample description for every caps it is given, and a ten-minute
/// lecture ended up with over a thousand identical ones, which FFmpeg-based players refuse
/// ("invalid STSD entries"). Caps that differ from the first ones only in the frame rate
/// describe the same stream and are dropped here; a real change (another size, other codec
/// data) still reaches the muxer.
fn keep_first_caps_unless_the_format_changes(mux_pad: &gst::Pad) {
    let first: std::sync::Mutex<Option<gst::Structure>> = std::sync::Mutex::new(None);
    mux_pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        let Some(gst::PadProbeData::Event(event)) = &info.data else {
            return gst::PadProbeReturn::Ok;
        };
        let gst::EventView::Caps(caps) = event.view() else {
            return gst::PadProbeReturn::Ok;
        };
        let Some(format) = caps.caps().structure(0).map(without_frame_rate) else {
            return gst::PadProbeReturn::Ok;
        };
        let mut first = first
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match first.as_ref() {
            // `Handled`, not `Drop`: the bindings have already taken the event out of the
            // probe's data (it is released with `info` here). On `Drop`, GStreamer 1.22 then
            // releases the data it thinks it still holds, a null pointer, and logs a
            // `gst_mini_object_unref` critical for every caps event left out; `Handled`
            // tells it that the probe disposed of the event itself. (The parser then keeps
            // the caps pending and offers them again before its next buffer, to be left out
            // again here: the rewritten file is the same byte for byte.)
            Some(seen) if *seen == format => gst::PadProbeReturn::Handled,
            _ => {
                *first = Some(format);
                gst::PadProbeReturn::Ok
            }
        }
    });
}

fn without_frame_rate(structure: &gst::StructureRef) -> gst::Structure {
    let mut copy = structure.to_owned();
    copy.remove_field("framerate");
    copy
}

/// Duration of a media file, from its demuxer.
pub fn duration(path: &Path) -> Option<i64> {
    let discoverer = gst_pbutils::Discoverer::new(gst::ClockTime::from_seconds(15)).ok()?;
    let info = discoverer.discover_uri(&uri(path).ok()?).ok()?;
    info.duration().map(|d| d.mseconds() as i64)
}

/// Size, duration and MD5 of a file.
pub fn facts(path: &Path) -> Result<FileFacts, Error> {
    let mut file =
        std::fs::File::open(path).map_err(|e| Error::io(path.display().to_string(), e))?;
    let mut hasher = md5::Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io(path.display().to_string(), e))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    let md5 = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    Ok(FileFacts {
        size,
        duration_ms: duration(path),
        md5,
    })
}

/// A JPEG of the video at 10 % of its length, `width` pixels wide.
#[expect(clippy::expect_used, reason = "invariant: videoconvert has a sink")]
pub fn thumbnail(path: &Path, out: &Path, width: i32) -> Result<(), Error> {
    let pipeline = gst::Pipeline::new();
    let src = make("uridecodebin")?;
    src.set_property("uri", uri(path)?);
    let convert = make("videoconvert")?;
    let scale = make("videoscale")?;
    let filter = make("capsfilter")?;
    filter.set_property(
        "caps",
        gst::Caps::builder("video/x-raw")
            .field("width", width)
            .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
            .build(),
    );
    let enc = make("jpegenc")?;
    let sink = gst_app::AppSink::builder().max_buffers(1).build();
    pipeline
        .add_many([&src, &convert, &scale, &filter, &enc, sink.upcast_ref()])
        .map_err(plumbing)?;
    gst::Element::link_many([&convert, &scale, &filter, &enc, sink.upcast_ref()])
        .map_err(plumbing)?;
    let convert_sink = convert.static_pad("sink").expect("videoconvert has a sink");
    src.connect_pad_added(move |_, pad| {
        let is_video = pad
            .current_caps()
            .and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/")))
            .unwrap_or(false);
        if is_video && !convert_sink.is_linked() {
            let _ = pad.link(&convert_sink);
        }
    });
    pipeline
        .set_state(gst::State::Paused)
        .map_err(|e| Error::refused(format!("cannot open: {e}")))?;
    let wait = |pipeline: &gst::Pipeline| pipeline.state(gst::ClockTime::from_seconds(15)).0;
    let result = (|| {
        wait(&pipeline).map_err(|_| Error::refused("cannot open the video"))?;
        if let Some(total) = pipeline.query_duration::<gst::ClockTime>() {
            let _ =
                pipeline.seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT, total / 10);
            wait(&pipeline).map_err(|_| Error::refused("cannot seek"))?;
        }
        let no_picture = || Error::refused("no picture");
        let sample = sink
            .try_pull_preroll(gst::ClockTime::from_seconds(10))
            .ok_or_else(no_picture)?;
        let buffer = sample.buffer().ok_or_else(no_picture)?;
        let map = buffer.map_readable().map_err(plumbing)?;
        std::fs::write(out, map.as_slice()).map_err(|e| Error::io(out.display().to_string(), e))
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result
}
