//! Live streaming of a session to an RTMP platform, kept apart from the recording.
//!
//! The capture pipeline hands encoded video and audio to appsinks behind leaky queues; this
//! module forwards them into a small pipeline of its own (appsrc → flvmux → rtmp2sink).
//! When the platform drops the connection, only that small pipeline fails: it is torn
//! down and built again after a backoff, starting on a keyframe, while the recording goes
//! on untouched. Nothing here can block or fail the capture pipeline.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::Error;
use crate::model::StreamStats;

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// At most this much media waits in the streaming pipeline for a slow network; beyond it
/// the oldest data is dropped (a live stream has no use for old frames).
const MAX_QUEUED_BYTES: u64 = 8 * 1024 * 1024;
/// Data older than this means the stream is not alive.
const ALIVE_WINDOW: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Enabled, waiting for the first keyframe (or for data at all).
    Waiting,
    Connecting,
    Live,
    /// The connection failed; the next attempt is due at the given time.
    Retrying(Instant),
    Disabled,
}

struct Pipe {
    generation: u64,
    pipeline: gst::Pipeline,
    video: Option<gst_app::AppSrc>,
    audio: Option<gst_app::AppSrc>,
    /// Running time of the capture that maps to 0 in this stream.
    offset: gst::ClockTime,
    stop: Arc<AtomicBool>,
}

struct State {
    phase: Phase,
    pipe: Option<Pipe>,
    backoff: Duration,
    video_caps: Option<gst::Caps>,
    audio_caps: Option<gst::Caps>,
    reconnects: u32,
    last_error: Option<String>,
    connected_since: Option<i64>,
    keyframe_asked: bool,
    // Rates over the last full second.
    window_start: Instant,
    window_bytes: u64,
    window_frames: u64,
    bitrate: u64,
    fps: f64,
    last_data: Option<Instant>,
    bytes_sent: u64,
}

impl State {
    /// Keeps the latest caps of a stream: a connection needs every stream's caps.
    fn remember_caps(&mut self, caps: &gst::CapsRef, video: bool) {
        let slot = if video {
            &mut self.video_caps
        } else {
            &mut self.audio_caps
        };
        if slot.as_deref() != Some(caps) {
            *slot = Some(caps.to_owned());
        }
    }

    /// Counts a buffer sent; the bitrate and frame rate are figured once a second.
    fn count_sent(&mut self, size: u64, video: bool) {
        self.window_bytes += size;
        self.bytes_sent += size;
        if video {
            self.window_frames += 1;
        }
        let now = Instant::now();
        self.last_data = Some(now);
        let elapsed = now.duration_since(self.window_start);
        if elapsed >= Duration::from_secs(1) {
            self.bitrate = (self.window_bytes as f64 * 8.0 / elapsed.as_secs_f64()) as u64;
            self.fps = self.window_frames as f64 / elapsed.as_secs_f64();
            self.window_bytes = 0;
            self.window_frames = 0;
            self.window_start = now;
        }
    }
}

struct Inner {
    node: String,
    location: String,
    shown: String,
    has_video: bool,
    has_audio: bool,
    state: Mutex<State>,
    generation: AtomicU64,
    /// The capture's appsinks, to ask the encoder for a keyframe upstream.
    sinks: Mutex<Vec<gst_app::AppSink>>,
}

/// One `rtmpOutput` node of a running session: the pipeline's owner turns it on and off.
#[derive(Clone)]
pub struct RtmpOutput {
    inner: Arc<Inner>,
}

/// The figures of one live stream, for readers: it cannot change the stream.
#[derive(Clone)]
pub struct StreamReadout {
    inner: Arc<Inner>,
}

impl StreamReadout {
    pub fn stats(&self) -> StreamStats {
        stats_of(&self.inner)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl RtmpOutput {
    /// Forwards what `sinks` (with whether each carries video) receive to `location`.
    pub fn attach(
        node: &str,
        location: &str,
        shown: &str,
        enabled: bool,
        sinks: Vec<(gst_app::AppSink, bool)>,
    ) -> RtmpOutput {
        let output = RtmpOutput {
            inner: Arc::new(Inner {
                node: node.to_string(),
                location: location.to_string(),
                shown: shown.to_string(),
                has_video: sinks.iter().any(|(_, v)| *v),
                has_audio: sinks.iter().any(|(_, v)| !*v),
                state: Mutex::new(State {
                    phase: if enabled {
                        Phase::Waiting
                    } else {
                        Phase::Disabled
                    },
                    pipe: None,
                    backoff: FIRST_BACKOFF,
                    video_caps: None,
                    audio_caps: None,
                    reconnects: 0,
                    last_error: None,
                    connected_since: None,
                    keyframe_asked: false,
                    window_start: Instant::now(),
                    window_bytes: 0,
                    window_frames: 0,
                    bitrate: 0,
                    fps: 0.0,
                    last_data: None,
                    bytes_sent: 0,
                }),
                generation: AtomicU64::new(0),
                sinks: Mutex::new(Vec::new()),
            }),
        };
        for (sink, video) in sinks {
            let weak = Arc::downgrade(&output.inner);
            sink.set_callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |sink| {
                        let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                        if let Some(inner) = weak.upgrade() {
                            RtmpOutput { inner }.forward(&sample, video);
                        }
                        // Whatever happens to the stream, the capture goes on.
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            );
            lock(&output.inner.sinks).push(sink);
        }
        output
    }

    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// Turns streaming on or off during the session.
    pub fn set_enabled(&self, on: bool) {
        let mut state = lock(&self.inner.state);
        match (on, state.phase) {
            (true, Phase::Disabled) => {
                state.phase = Phase::Waiting;
                state.backoff = FIRST_BACKOFF;
                state.keyframe_asked = false;
            }
            (false, phase) if phase != Phase::Disabled => {
                state.phase = Phase::Disabled;
                if let Some(pipe) = state.pipe.take() {
                    stop_pipe(pipe);
                }
                state.connected_since = None;
            }
            _ => {}
        }
    }

    /// What readers may see of the stream.
    pub fn readout(&self) -> StreamReadout {
        StreamReadout {
            inner: self.inner.clone(),
        }
    }

    pub fn stats(&self) -> StreamStats {
        stats_of(&self.inner)
    }

    /// Stops streaming for good (the session ends).
    pub fn shutdown(&self) {
        let mut state = lock(&self.inner.state);
        state.phase = Phase::Disabled;
        if let Some(pipe) = state.pipe.take() {
            stop_pipe(pipe);
        }
    }

    fn forward(&self, sample: &gst::Sample, video: bool) {
        let Some(buffer) = sample.buffer() else {
            return;
        };
        // Encoders shift timestamps (x264enc by 1000 hours) and say so in the segment:
        // running time is what video and audio share.
        let segment = sample
            .segment()
            .and_then(|s| s.downcast_ref::<gst::ClockTime>().cloned());
        let running = |t: Option<gst::ClockTime>| -> Option<gst::ClockTime> {
            match &segment {
                Some(seg) => t.and_then(|t| seg.to_running_time(t)),
                None => t,
            }
        };
        let mut state = lock(&self.inner.state);
        if let Some(caps) = sample.caps() {
            state.remember_caps(caps, video);
        }
        match state.phase {
            Phase::Disabled => return,
            Phase::Retrying(at) if Instant::now() < at => return,
            _ => {}
        }
        if state.pipe.is_none() {
            // A stream starts on a video keyframe, with every stream's caps known.
            let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
            let starts_here = if self.inner.has_video {
                video && keyframe
            } else {
                true
            };
            let caps_known = (!self.inner.has_video || state.video_caps.is_some())
                && (!self.inner.has_audio || state.audio_caps.is_some());
            if !starts_here || !caps_known {
                if video && !keyframe && !state.keyframe_asked {
                    state.keyframe_asked = true;
                    drop(state);
                    self.ask_keyframe();
                }
                return;
            }
            let Some(pts) = running(buffer.pts()) else {
                return;
            };
            match self.open(&state, pts) {
                Ok(pipe) => {
                    state.pipe = Some(pipe);
                    state.phase = Phase::Connecting;
                    state.keyframe_asked = false;
                }
                Err(e) => {
                    self.failed(&mut state, e.to_string());
                    return;
                }
            }
        }
        let sent = state
            .pipe
            .as_ref()
            .and_then(|pipe| push(pipe, buffer, video, running));
        if let Some(size) = sent {
            state.count_sent(size, video);
        }
    }

    fn ask_keyframe(&self) {
        let event = gstreamer_video::UpstreamForceKeyUnitEvent::builder()
            .all_headers(true)
            .build();
        for sink in lock(&self.inner.sinks).iter() {
            if let Some(pad) = sink.static_pad("sink") {
                pad.push_event(event.clone());
            }
        }
    }

    fn failed(&self, state: &mut State, error: String) {
        log::warn!(
            "stream {} to {}: {error}; trying again in {} s",
            self.inner.node,
            self.inner.shown,
            state.backoff.as_secs()
        );
        if let Some(pipe) = state.pipe.take() {
            stop_pipe(pipe);
        }
        state.last_error = Some(error);
        state.connected_since = None;
        state.reconnects += 1;
        state.phase = Phase::Retrying(Instant::now() + state.backoff);
        state.backoff = (state.backoff * 2).min(MAX_BACKOFF);
    }

    /// Builds and starts the streaming pipeline, its bus watched by a thread of its own.
    #[expect(clippy::expect_used, reason = "invariant: appsrc has a src pad")]
    fn open(&self, state: &State, offset: gst::ClockTime) -> Result<Pipe, Error> {
        let generation = self.inner.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let pipeline =
            gst::Pipeline::with_name(&format!("{}-stream-{generation}", self.inner.node));
        let make = |factory: &'static str| {
            gst::ElementFactory::make(factory)
                .build()
                .map_err(|_| Error::MissingElement(factory))
        };
        let mux = make("flvmux")?;
        mux.set_property("streamable", true);
        let sink = make("rtmp2sink")?;
        sink.set_property("location", &self.inner.location);
        sink.set_property("sync", false);
        pipeline
            .add_many([&mux, &sink])
            .map_err(|e| Error::refused(e.to_string()))?;
        mux.link(&sink).map_err(|e| Error::refused(e.to_string()))?;
        // Pads are requested by name: with a video pad in place, flvmux (1.22) no longer
        // finds the audio template for a plain element link.
        let appsrc = |caps: &gst::Caps, pad: &str| -> Result<gst_app::AppSrc, Error> {
            let src = gst_app::AppSrc::builder()
                .caps(caps)
                .format(gst::Format::Time)
                .is_live(true)
                .max_bytes(MAX_QUEUED_BYTES)
                .build();
            src.set_property_from_str("leaky-type", "downstream");
            pipeline
                .add(&src)
                .map_err(|e| Error::refused(e.to_string()))?;
            let sink_pad = mux
                .request_pad_simple(pad)
                .ok_or_else(|| Error::refused(format!("flvmux has no {pad} pad")))?;
            src.static_pad("src")
                .expect("appsrc has a src pad")
                .link(&sink_pad)
                .map_err(|e| Error::refused(format!("flvmux does not take {caps}: {e:?}")))?;
            Ok(src)
        };
        let video = match (&state.video_caps, self.inner.has_video) {
            (Some(caps), true) => Some(appsrc(caps, "video")?),
            _ => None,
        };
        let audio = match (&state.audio_caps, self.inner.has_audio) {
            (Some(caps), true) => Some(appsrc(caps, "audio")?),
            _ => None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        self.watch(&pipeline, generation, stop.clone());
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| Error::refused("the streaming pipeline refused to start"))?;
        log::info!(
            "stream {} connecting to {}",
            self.inner.node,
            self.inner.shown
        );
        Ok(Pipe {
            generation,
            pipeline,
            video,
            audio,
            offset,
            stop,
        })
    }

    fn watch(&self, pipeline: &gst::Pipeline, generation: u64, stop: Arc<AtomicBool>) {
        let Some(bus) = pipeline.bus() else {
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        let pipeline_name = pipeline.name();
        let spawned = std::thread::Builder::new()
            .name("rtmp-watch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Some(msg) = bus.timed_pop_filtered(
                        gst::ClockTime::from_mseconds(200),
                        &[
                            gst::MessageType::Error,
                            gst::MessageType::Eos,
                            gst::MessageType::StateChanged,
                        ],
                    ) else {
                        continue;
                    };
                    let Some(inner) = weak.upgrade() else {
                        return;
                    };
                    let output = RtmpOutput { inner };
                    let mut state = lock(&output.inner.state);
                    if state.pipe.as_ref().map(|p| p.generation) != Some(generation) {
                        return;
                    }
                    match msg.view() {
                        gst::MessageView::Error(e) => {
                            let text = format!("{}", e.error());
                            output.failed(&mut state, text);
                            return;
                        }
                        gst::MessageView::Eos(_) => {
                            output.failed(&mut state, "the server ended the stream".into());
                            return;
                        }
                        gst::MessageView::StateChanged(s)
                            if s.current() == gst::State::Playing
                                && state.phase == Phase::Connecting
                                && msg.src().map(|o| o.name()) == Some(pipeline_name.clone()) =>
                        {
                            state.phase = Phase::Live;
                            state.backoff = FIRST_BACKOFF;
                            state.connected_since = Some(crate::sys::time::now_ms());
                            log::info!(
                                "stream {} is live on {}",
                                output.inner.node,
                                output.inner.shown
                            );
                        }
                        _ => {}
                    }
                }
            });
        if let Err(e) = spawned {
            // The stream runs, but nobody sees its errors: it will not reconnect.
            log::error!("cannot watch live stream {}: {e}", self.inner.node);
        }
    }
}

/// A stream's figures as readers see them: rates only while data went out recently.
fn stats_of(inner: &Inner) -> StreamStats {
    let state = lock(&inner.state);
    let alive = matches!(state.phase, Phase::Live)
        && state.last_data.is_some_and(|t| t.elapsed() < ALIVE_WINDOW);
    let (bitrate, fps) = if alive {
        (state.bitrate, state.fps)
    } else {
        (0, 0.0)
    };
    let caps_field = |caps: &Option<gst::Caps>, name: &str| -> Option<i32> {
        caps.as_ref()?.structure(0)?.get::<i32>(name).ok()
    };
    StreamStats {
        url: inner.shown.clone(),
        enabled: state.phase != Phase::Disabled,
        state: match state.phase {
            Phase::Waiting => "waiting",
            Phase::Connecting => "connecting",
            Phase::Live => "live",
            Phase::Retrying(_) => "reconnecting",
            Phase::Disabled => "disabled",
        }
        .into(),
        alive,
        bitrate,
        fps,
        width: caps_field(&state.video_caps, "width"),
        height: caps_field(&state.video_caps, "height"),
        video_codec: state
            .video_caps
            .as_ref()
            .and_then(|c| c.structure(0))
            .map(|s| codec_name(s.name())),
        audio_codec: state
            .audio_caps
            .as_ref()
            .and_then(|c| c.structure(0))
            .map(|s| codec_name(s.name())),
        bytes_sent: state.bytes_sent,
        reconnects: state.reconnects,
        connected_since: state.connected_since,
        last_error: state.last_error.clone(),
    }
}

/// Stops a streaming pipeline off the caller's thread (on GStreamer's own thread pool): a
/// pipeline stuck on a dead socket may take a while to reach NULL, and the caller may be a
/// capture streaming thread or the engine.
fn stop_pipe(pipe: Pipe) {
    pipe.stop.store(true, Ordering::Relaxed);
    pipe.pipeline.call_async(|pipeline| {
        let _ = pipeline.set_state(gst::State::Null);
    });
}

fn codec_name(caps_name: &str) -> String {
    match caps_name {
        "video/x-h264" => "h264",
        "video/x-h265" => "h265",
        "audio/mpeg" => "aac",
        "audio/x-opus" => "opus",
        other => other,
    }
    .to_string()
}

/// Pushes a copy of `buffer` into the connection's source of its kind, its times moved to
/// where the connection started; the bytes sent, or `None` for a buffer from before the
/// start, of a kind the connection lacks, or refused.
fn push(
    pipe: &Pipe,
    buffer: &gst::BufferRef,
    video: bool,
    running: impl Fn(Option<gst::ClockTime>) -> Option<gst::ClockTime>,
) -> Option<u64> {
    let pts = running(buffer.pts())?;
    let offset = pipe.offset;
    if pts < offset {
        return None;
    }
    let src = if video {
        pipe.video.as_ref()
    } else {
        pipe.audio.as_ref()
    }?;
    let mut out = buffer.copy();
    {
        let out = out.make_mut();
        out.set_pts(pts - offset);
        out.set_dts(running(buffer.dts()).map(|d| d.saturating_sub(offset)));
    }
    let size = out.size() as u64;
    src.push_buffer(out).ok()?;
    Some(size)
}
