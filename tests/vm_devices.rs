//! Device tests against real kernel drivers: vivid (two V4L2 capture cards with webcam and
//! HDMI inputs), snd-dummy and snd-aloop (ALSA). They need those drivers, so they are
//! ignored in a normal run and executed inside a VM by `scripts/vm-test`, as root, one at a
//! time (they load and unload drivers).
#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benchmarks stop at once on a broken assumption; their helpers are theirs alone"
)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use castd::config::DeviceMode;
use castd::devices::{DeviceSettings, Devices};
use castd::events::{Bus, Event};
use castd::model::{Device, DeviceRole, DeviceType, Signal};

mod vm;

use vm::{DUMMY, Daemon, LOOP_0, LOOP_1, VIVID_0, VIVID_1, ffprobe};

fn sh(script: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{script}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn registry() -> (Devices, Bus) {
    let bus = Bus::new(4096);
    let devices = Devices::start(
        DeviceMode::Auto,
        bus.clone(),
        DeviceSettings::default(),
        &castd::sys::tasks::Tasks::default(),
    )
    .await;
    (devices, bus)
}

fn find(devices: &[Device], id: &str) -> Device {
    devices
        .iter()
        .find(|d| d.id == id)
        .unwrap_or_else(|| {
            panic!(
                "{id} not found among {:?}",
                devices.iter().map(|d| (&d.id, &d.path)).collect::<Vec<_>>()
            )
        })
        .clone()
}

/// Waits until `pred` holds for an event on the bus; returns how long it took.
async fn wait_for_event(
    events: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<castd::events::Envelope>>,
    limit: Duration,
    pred: impl Fn(&Event) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let left = limit.checked_sub(started.elapsed()).unwrap_or_default();
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Ok(e)) if pred(&e.event) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("event bus: {e}"),
            Err(_) => panic!("no matching event within {limit:?}"),
        }
    }
}

fn removed(id: &'static str) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::DeviceRemoved { device } if device.id == id)
}

fn added(id: &'static str) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::DeviceAdded { device } if device.id == id)
}

#[tokio::test]
#[ignore = "needs vivid, snd-dummy and snd-aloop: run through scripts/vm-test"]
async fn vivid_and_alsa_capture_devices_are_enumerated_with_their_formats() {
    let (devices, _bus) = registry().await;
    let video = devices.list(Some(DeviceType::Video));
    // Two vivid instances, each with one capture node; output, metadata and touch nodes skipped.
    assert_eq!(
        video.iter().filter(|d| d.plugin == "v4l2").count(),
        2,
        "{video:#?}"
    );
    let cam = find(&video, VIVID_0);
    assert_eq!(
        (cam.driver.as_deref(), cam.path.as_str()),
        (Some("vivid"), "/dev/video0")
    );
    assert_eq!(cam.bus_info.as_deref(), Some("platform:vivid-000"));
    assert_eq!(cam.role, DeviceRole::Camera, "input 0 is the webcam input");
    assert_eq!(cam.signal, Signal::Ok);
    assert!(!cam.in_use);
    let yuyv_360 = cam
        .formats
        .iter()
        .find(|f| f.format == "YUYV" && f.width == 640 && f.height == 360)
        .expect("YUYV 640x360");
    assert!(
        yuyv_360.framerates.contains(&30.0) && yuyv_360.framerates.contains(&25.0),
        "{yuyv_360:?}"
    );
    assert!(
        cam.formats
            .iter()
            .any(|f| f.width == 1280 && f.height == 720)
    );
    let inputs: Vec<(&str, bool)> = cam
        .inputs
        .iter()
        .map(|i| (i.name.as_str(), i.dv_timings))
        .collect();
    assert_eq!(
        inputs,
        [
            ("Webcam 0", false),
            ("TV 0", false),
            ("S-Video 0", false),
            ("HDMI 0", true)
        ]
    );
    assert_eq!(find(&video, VIVID_1).path, "/dev/video4");
    assert!(
        video.iter().all(|d| d.plugin != "test"),
        "hardware found: no simulated devices"
    );

    let audio = devices.list(Some(DeviceType::Audio));
    let ids: Vec<&str> = audio.iter().map(|d| d.id.as_str()).collect();
    for id in [DUMMY, LOOP_0, LOOP_1] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    let dummy = find(&audio, DUMMY);
    assert_eq!(dummy.path, "hw:CARD=Dummy,DEV=0");
    let caps = dummy.audio.expect("capabilities");
    assert!(
        caps.channels.contains(&1) && caps.channels.contains(&2),
        "{caps:?}"
    );
    assert!(
        caps.rates.contains(&48000) && caps.rates.contains(&44100),
        "{caps:?}"
    );
    assert!(caps.formats.contains(&"S16LE".to_string()), "{caps:?}");
    let lp = find(&audio, LOOP_1).audio.expect("loopback capabilities");
    assert!(lp.rates.contains(&48000));
}

#[tokio::test]
#[ignore = "needs vivid: run through scripts/vm-test"]
async fn stable_ids_survive_a_driver_reload_that_renumbers_the_nodes() {
    let (devices, _bus) = registry().await;
    let before = devices.list(Some(DeviceType::Video));
    assert_eq!(find(&before, VIVID_0).path, "/dev/video0");

    sh("rmmod vivid && insmod /run/mods/vivid.ko n_devs=2 vid_cap_nr=5,9");
    let after = devices.rescan().await;
    let (a0, a1) = (find(&after, VIVID_0), find(&after, VIVID_1));
    sh("rmmod vivid && insmod /run/mods/vivid.ko n_devs=2");

    assert_eq!(
        (a0.path.as_str(), a1.path.as_str()),
        ("/dev/video5", "/dev/video9")
    );
    assert!(a0.present && a1.present);
    assert_eq!(a0.formats, find(&before, VIVID_0).formats);
    assert_eq!(
        after.iter().filter(|d| d.plugin == "v4l2").count(),
        2,
        "renumbered nodes are the same devices, not new ones"
    );
}

#[tokio::test]
#[ignore = "needs vivid and snd-aloop: run through scripts/vm-test"]
async fn hotplug_is_seen_within_two_seconds() {
    let (devices, bus) = registry().await;
    let mut events = bus.subscribe();

    std::fs::write("/sys/bus/platform/drivers/vivid/unbind", "vivid.0").unwrap();
    let took = wait_for_event(&mut events, Duration::from_secs(2), removed(VIVID_1)).await;
    eprintln!("vivid unbind seen after {took:?}");
    let gone = devices.get(VIVID_0).unwrap();
    assert!(!gone.present, "an unplugged device stays listed, absent");

    std::fs::write("/sys/bus/platform/drivers/vivid/bind", "vivid.0").unwrap();
    let took = wait_for_event(&mut events, Duration::from_secs(2), added(VIVID_1)).await;
    eprintln!("vivid bind seen after {took:?}");
    assert!(devices.get(VIVID_0).unwrap().present);

    std::fs::write("/sys/bus/platform/drivers/snd_aloop/unbind", "snd_aloop.0").unwrap();
    wait_for_event(&mut events, Duration::from_secs(2), removed(LOOP_1)).await;
    std::fs::write("/sys/bus/platform/drivers/snd_aloop/bind", "snd_aloop.0").unwrap();
    wait_for_event(&mut events, Duration::from_secs(2), added(LOOP_1)).await;
}

#[tokio::test]
#[ignore = "needs vivid: run through scripts/vm-test"]
async fn an_hdmi_input_reports_its_signal_and_losing_it() {
    sh(
        "v4l2-ctl -d /dev/video0 -i 3 >/dev/null && v4l2-ctl -d /dev/video0 -c dv_timings_signal_mode=0",
    );
    let (devices, bus) = registry().await;
    let mut events = bus.subscribe();
    let grabber = devices.get(VIVID_0).unwrap();
    assert_eq!(
        grabber.role,
        DeviceRole::Hdmi,
        "the HDMI input makes it a grabber"
    );
    assert_eq!(grabber.signal, Signal::Ok);
    let detected = grabber.detected.expect("detected timings");
    assert!(
        detected.width > 0 && detected.height > 0 && detected.framerate > 0.0,
        "{detected:?}"
    );

    sh("v4l2-ctl -d /dev/video0 -c dv_timings_signal_mode=1");
    wait_for_event(&mut events, Duration::from_secs(5), |e| {
        matches!(e, Event::DeviceChanged { device } if device.id == VIVID_0 && device.signal == Signal::None)
    })
    .await;
    sh(
        "v4l2-ctl -d /dev/video0 -c dv_timings_signal_mode=0 && v4l2-ctl -d /dev/video0 -i 0 >/dev/null",
    );
}

#[tokio::test]
#[ignore = "needs vivid and snd-dummy: run through scripts/vm-test"]
async fn a_device_another_program_captures_from_is_in_use() {
    let (devices, bus) = registry().await;
    let mut events = bus.subscribe();
    let mut video = Command::new("gst-launch-1.0")
        .args([
            "-q",
            "v4l2src",
            "device=/dev/video4",
            "!",
            "video/x-raw,width=320,height=180",
            "!",
            "fakesink",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut audio = Command::new("arecord")
        .args([
            "-q",
            "-D",
            "hw:CARD=Dummy,DEV=0",
            "-f",
            "S16_LE",
            "-r",
            "48000",
            "-c",
            "2",
            "/dev/null",
        ])
        .spawn()
        .unwrap();
    let mut busy = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while busy.len() < 2 && Instant::now() < deadline {
        if let Ok(Ok(e)) = tokio::time::timeout(Duration::from_secs(1), events.recv()).await
            && let Event::DeviceChanged { device } = &e.event
            && device.in_use
        {
            busy.insert(device.id.clone());
        }
    }
    let _ = video.kill();
    let _ = audio.kill();
    let _ = video.wait();
    let _ = audio.wait();
    assert!(busy.contains(VIVID_1) && busy.contains(DUMMY), "{busy:?}");
    assert!(!devices.get(VIVID_0).unwrap().in_use);
}

fn run_pipeline(description: &str) {
    use gstreamer::prelude::*;
    gstreamer::init().unwrap();
    let pipeline = gstreamer::parse::launch(description).unwrap();
    pipeline.set_state(gstreamer::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gstreamer::ClockTime::from_seconds(120),
            &[gstreamer::MessageType::Eos, gstreamer::MessageType::Error],
        )
        .expect("pipeline finishes");
    pipeline.set_state(gstreamer::State::Null).unwrap();
    if let gstreamer::MessageView::Error(e) = msg.view() {
        panic!("{description}: {} ({:?})", e.error(), e.debug());
    }
}

#[tokio::test]
#[ignore = "needs vivid and snd-aloop: run through scripts/vm-test"]
async fn two_seconds_from_vivid_and_snd_aloop_come_back_from_a_demuxer() {
    let (devices, _bus) = registry().await;
    let dir = tempfile::tempdir().unwrap();

    let camera = devices.get(VIVID_0).unwrap();
    let video_file = dir.path().join("vivid.mp4");
    run_pipeline(&format!(
        "v4l2src device={} num-buffers=60 ! video/x-raw,format=YUY2,width=320,height=180,framerate=30/1 \
         ! videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=ultrafast tune=zerolatency \
         ! h264parse ! mp4mux ! filesink location={}",
        camera.path,
        video_file.display()
    ));
    let probe = ffprobe(&video_file);
    let stream = &probe["streams"][0];
    assert_eq!(stream["codec_name"], "h264");
    assert_eq!(
        (stream["width"].as_u64(), stream["height"].as_u64()),
        (Some(320), Some(180))
    );
    let duration: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1.8..=2.2).contains(&duration), "video lasts {duration} s");

    // A tone played into the loopback's playback side arrives on its capture side.
    let capture = devices.get(LOOP_1).unwrap();
    let mut player = Command::new("gst-launch-1.0")
        .args([
            "-q",
            "audiotestsrc",
            "wave=sine",
            "freq=1000",
            "is-live=true",
            "!",
            "audio/x-raw,rate=48000,channels=2,format=S16LE",
            "!",
            "alsasink",
            "device=hw:CARD=Loopback,DEV=0",
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let audio_file = dir.path().join("aloop.mkv");
    run_pipeline(&format!(
        "alsasrc device={} num-buffers=200 ! audio/x-raw,rate=48000,channels=2,format=S16LE \
         ! audioconvert ! opusenc ! matroskamux ! filesink location={}",
        capture.path,
        audio_file.display()
    ));
    let _ = player.kill();
    let _ = player.wait();
    let probe = ffprobe(&audio_file);
    let stream = &probe["streams"][0];
    assert_eq!(stream["codec_name"], "opus");
    assert_eq!(stream["channels"].as_u64(), Some(2));
    let duration: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1.8..=2.3).contains(&duration), "audio lasts {duration} s");
    let volume = Command::new("ffmpeg")
        .args(["-hide_banner", "-i"])
        .arg(&audio_file)
        .args(["-af", "volumedetect", "-f", "null", "-"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&volume.stderr);
    let mean: f64 = report
        .lines()
        .find_map(|l| l.split("mean_volume:").nth(1))
        .and_then(|v| v.trim().trim_end_matches("dB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no volume in {report}"));
    assert!(
        mean > -40.0,
        "the tone came through (mean volume {mean} dB)"
    );
}

#[tokio::test]
#[ignore = "needs vivid, snd-dummy and snd-aloop: run through scripts/vm-test"]
async fn the_http_api_lists_the_real_devices() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&dir.path().join("data"), "");
    let video = d.get_json("/api/1/devices/video").await;
    let audio = d.get_json("/api/1/devices/audio").await;
    let redetected = d.post_ok("/api/1/devices/redetect", &[]).await;
    let plugins = d.get_json("/api/1/plugins").await;
    drop(d);
    let (video, audio, redetected, plugins) = (
        video.as_array().unwrap(),
        audio.as_array().unwrap(),
        redetected.as_array().unwrap(),
        plugins.as_array().unwrap(),
    );

    let ids = |list: &[serde_json::Value]| {
        list.iter()
            .map(|d| d["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert!(ids(video).contains(&VIVID_0.to_string()), "{video:?}");
    assert!(ids(audio).contains(&DUMMY.to_string()), "{audio:?}");
    assert_eq!(ids(redetected).len(), video.len() + audio.len());
    let dev0 = video.iter().find(|d| d["id"] == VIVID_0).unwrap();
    assert_eq!(dev0["stableID"], VIVID_0);
    assert_eq!(dev0["type"], "video");
    assert_eq!(dev0["present"], true);
    let enabled = |id: &str| {
        plugins.iter().find(|p| p["id"] == id).unwrap()["enabled"]
            .as_bool()
            .unwrap()
    };
    assert!(enabled("v4l2") && enabled("alsa") && !enabled("test"));
}

#[tokio::test]
#[ignore = "needs vivid and snd-dummy: run through scripts/vm-test"]
async fn a_capture_from_real_devices_survives_unplugging_the_camera() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        &dir.path().join("data"),
        "[capture]\nkeep_inputs_hot = false\n",
    );
    // The guest's scratch space is a small tmpfs: no reserve.
    d.post_ok("/api/1/settings/diskReserveMb", &[("value", "0")])
        .await;
    let template = vm::vm_template().to_string();
    d.post_ok("/api/1/capture/templates", &[("template", &template)])
        .await;
    let started = d
        .post_ok(
            "/api/1/capture/start",
            &[("captureRequest", r#"{"templateID":"vm"}"#)],
        )
        .await;
    let id = started["sessionID"]
        .as_str()
        .unwrap_or_else(|| panic!("{started}"))
        .to_string();
    let camera_state = |state: &'static str| {
        move |v: &serde_json::Value| {
            v.as_array().is_some_and(|nodes| {
                nodes
                    .iter()
                    .any(|n| n["nodeID"] == "camera" && n["state"] == state)
            })
        }
    };
    d.poll("/api/1/sessionStatus", 20, camera_state("running"))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    std::fs::write("/sys/bus/platform/drivers/vivid/unbind", "vivid.0").unwrap();
    let lost = d
        .poll("/api/1/sessionStatus", 20, |v| {
            v.as_array().is_some_and(|nodes| {
                nodes
                    .iter()
                    .any(|n| n["nodeID"] == "camera" && n["state"] != "running")
            })
        })
        .await;
    eprintln!("camera after unplug: {lost}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    std::fs::write("/sys/bus/platform/drivers/vivid/bind", "vivid.0").unwrap();
    d.poll("/api/1/sessionStatus", 30, camera_state("running"))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    d.post_ok("/api/1/capture/stop", &[]).await;
    let package = d.finished_package(&id, 120).await;
    drop(d);
    // The camera was rebound while castd held its old node open, so it came back under new
    // numbers; rebinding once more, with nothing open, restores the numbering other tests use.
    std::fs::write("/sys/bus/platform/drivers/vivid/unbind", "vivid.0").unwrap();
    std::fs::write("/sys/bus/platform/drivers/vivid/bind", "vivid.0").unwrap();
    assert_eq!(package["state"], "complete", "{package}");
    let file = std::path::Path::new(package["root"].as_str().unwrap()).join("recording.mp4");
    let probe = ffprobe(&file);
    let video = probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == "video")
        .unwrap();
    assert_eq!(
        (video["codec_name"].as_str(), video["width"].as_u64()),
        (Some("h264"), Some(320))
    );
    assert!(vm::stream_types(&probe).contains(&"audio".to_string()));
    let duration = vm::duration_s(&probe);
    let recorded = package["duration"].as_f64().unwrap() / 1000.0;
    assert!(
        (duration - recorded).abs() < 0.2,
        "the slate covered the unplugged time: {duration} s vs {recorded} s"
    );
}
