//! The media layer on its own: a compiled graph recorded through the gate, paused, faulted
//! and finished, read back with a real demuxer.

use std::collections::BTreeMap;
use std::time::Duration;

use castd::graph::compile::compile;
use castd::graph::plan::SourceSpec;
use castd::graph::validate;
use castd::media::{self, finalize, session::SessionPipeline};
use castd::model::Graph;

#[path = "support/probe.rs"]
mod probe;
use probe::ffprobe;

fn lecture() -> Graph {
    serde_json::from_value(serde_json::json!({
        "root": "recording",
        "nodes": [
            {"id": "camera", "type": "videoDevice", "options": {"width": 640, "height": 360}, "children": ["video"]},
            {"id": "microphone", "type": "audioDevice", "children": ["audio"]},
            {"id": "video", "type": "h264Encoder", "options": {"preset": "ultrafast", "bitrate": 1000}, "children": ["recording"]},
            {"id": "audio", "type": "aacEncoder", "children": ["recording"]},
            {"id": "recording", "type": "fileRecorder"}
        ]
    }))
    .unwrap()
}

fn sources() -> BTreeMap<String, SourceSpec> {
    BTreeMap::from([
        (
            "camera".into(),
            SourceSpec::TestVideo {
                pattern: "ball".into(),
                width: 640,
                height: 360,
                fps: 30,
            },
        ),
        (
            "microphone".into(),
            SourceSpec::TestAudio {
                wave: "sine".into(),
                frequency: 440.0,
                rate: 48000,
                channels: 2,
            },
        ),
    ])
}

#[test]
fn record_pause_record_gives_one_gapless_file() {
    let env = media::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let graph = validate(&lecture()).unwrap();
    let plan = compile(&graph, &sources(), &env, dir.path(), 500).unwrap();
    let session =
        SessionPipeline::start(plan, "t", Box::new(|e| eprintln!("event {e:?}"))).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(session.record(true, Duration::from_secs(2)).is_some());
    std::thread::sleep(Duration::from_millis(1000));
    std::thread::sleep(Duration::from_millis(1000));
    session.record(false, Duration::ZERO);
    std::thread::sleep(Duration::from_millis(1000));
    assert!(session.record(true, Duration::from_secs(2)).is_some());
    session.force_keyframe();
    std::thread::sleep(Duration::from_millis(1000));
    assert!(session.snapshot("camera").is_some(), "snapshots arrive");
    assert!(session.levels("microphone").is_some(), "levels arrive");
    session.finish(Duration::from_secs(10)).unwrap();
    let recorded = session.recorded().as_secs_f64();
    let file = dir.path().join("recording.mp4");
    finalize::faststart(&file).unwrap();
    let probe = ffprobe(&file);
    eprintln!("{probe:#}");
    let duration: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((duration - 3.0).abs() < 0.1, "{duration}");
    assert!(
        (duration - recorded).abs() < 0.04,
        "the gate counts what it let through: {recorded} vs {duration}"
    );
}
