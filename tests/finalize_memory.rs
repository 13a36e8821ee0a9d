//! The fast-start rewrite of a long recording must not hold the recording in memory: a
//! six-hour lecture is gigabytes, the appliance has little RAM, and an out-of-memory kill
//! in the rewrite would repeat at every restart's recovery. Its own test binary, so the
//! process's peak RSS is this test's alone.
#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks stop at once on a broken assumption; their helpers are theirs alone"
)]

use std::time::Duration;

use castd::media::{self, finalize};

/// Peak resident set of this process (KiB), from /proc.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Writes a fragmented MP4 like a recording's (1 s fragments, H.264 and AAC) of `secs`
/// seconds of noise at a high bitrate, so the file is large while encoding stays cheap.
fn fragmented_recording(path: &std::path::Path, secs: u32) {
    use gstreamer as gst;
    use gstreamer::prelude::*;
    let frames = secs * 30;
    let audio_buffers = secs * 48000 / 1024;
    // A fixed description in a test (nothing user-supplied): the quickest way to a file.
    let description = format!(
        "videotestsrc pattern=snow num-buffers={frames} ! video/x-raw,width=320,height=180,framerate=30/1 \
         ! x264enc speed-preset=ultrafast bitrate=8000 key-int-max=60 ! h264parse \
         ! mp4mux fragment-duration=1000 name=mux ! filesink location={} \
         audiotestsrc num-buffers={audio_buffers} samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=2 \
         ! avenc_aac ! aacparse ! mux.",
        path.display()
    );
    let pipeline = gst::parse::launch(&description).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(300),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("the recording is written");
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(matches!(msg.view(), gst::MessageView::Eos(_)), "{msg:?}");
}

#[test]
fn rewriting_a_long_recording_does_not_hold_it_in_memory() {
    media::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("recording.mp4");
    fragmented_recording(&file, 240);
    let size_kib = std::fs::metadata(&file).unwrap().len() / 1024;
    assert!(size_kib > 150 * 1024, "a large file: {size_kib} KiB");

    // Forget the peak of writing it; measure the rewrite alone.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let before = peak_rss_kib();
    finalize::faststart(&file).unwrap();
    let grown = peak_rss_kib().saturating_sub(before);

    eprintln!("rewrite of {size_kib} KiB: peak RSS +{grown} KiB");
    let probe = media_probe(&file);
    assert!(probe > 239.0, "the rewritten file plays {probe} s");
    // The rewrite's queues hold at most 30 s of media (about 30 MiB at this bitrate); the
    // unbounded ones held nearly the whole file.
    assert!(
        grown < size_kib / 3,
        "the rewrite of a {size_kib} KiB file raised the peak RSS by {grown} KiB"
    );
}

fn media_probe(path: &std::path::Path) -> f64 {
    finalize::duration(path).map_or(0.0, |ms| ms as f64 / 1000.0)
}
