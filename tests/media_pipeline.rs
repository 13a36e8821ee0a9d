//! The media layer on its own: a compiled graph recorded through the gate, paused, faulted
//! and finished, read back with a real demuxer.
#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks stop at once on a broken assumption; their helpers are theirs alone"
)]

use std::collections::BTreeMap;
use std::time::Duration;

use castd::graph::compile::compile;
use castd::graph::plan::SourceSpec;
use castd::graph::validate;
use castd::media::session::{PipelineEvent, SessionPipeline};
use castd::media::{self, finalize};
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
    let (tx, events) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let mut session = SessionPipeline::start(
        plan,
        "t",
        std::sync::Arc::new(move |e: PipelineEvent| {
            eprintln!("event {e:?}");
            let _ = tx.lock().unwrap().send(e);
        }),
    )
    .unwrap();
    // Each step waits for the event the pipeline reports instead of trusting a fixed time.
    let wait_for = |within: u64, want: &dyn Fn(&PipelineEvent) -> bool| loop {
        let event = events
            .recv_timeout(Duration::from_secs(within))
            .expect("the pipeline reports");
        assert!(!matches!(event, PipelineEvent::Fatal(_)), "{event:?}");
        if want(&event) {
            return;
        }
    };
    wait_for(10, &|e| matches!(e, PipelineEvent::Flowing));
    let first = session.record(true).expect("the pipeline has a gate");
    wait_for(
        2,
        &|e| matches!(e, PipelineEvent::GateOpen { opening, .. } if *opening == first),
    );
    std::thread::sleep(Duration::from_millis(2000));
    session.record(false);
    std::thread::sleep(Duration::from_millis(1000));
    let second = session.record(true).expect("the pipeline has a gate");
    wait_for(
        2,
        &|e| matches!(e, PipelineEvent::GateOpen { opening, .. } if *opening == second),
    );
    session.force_keyframe();
    std::thread::sleep(Duration::from_millis(1000));
    let readout = session.readout().clone();
    assert!(readout.snapshot("camera").is_some(), "snapshots arrive");
    assert!(readout.levels("microphone").is_some(), "levels arrive");
    session.end();
    wait_for(10, &|e| matches!(e, PipelineEvent::Ended));
    session.halt();
    let recorded = readout.recorded().as_secs_f64();
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
