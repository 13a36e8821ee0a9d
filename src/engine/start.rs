//! Starting a capture: the request checked, the session admitted beside the others, the
//! disk checked for room, the armed pipeline taken (or a cold one built), then the session
//! waits in `starting` — for data to reach the gate of a cold pipeline, then for the first
//! frame through the opened gate. The caller is answered when the recording runs (201 with
//! its status) or when it could not start.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Map;

use super::actor::{Actor, Msg, Reply};
use super::machine::{self, Admission, Command, Other, Phase};
use super::pipelines::{Prepared, not_flowing};
use super::request::{graph_bitrate, normalised, title_from, validate_request};
use super::session::{Awaited, Extra, Session, Wait};
use super::sources;
use super::timeline::Timeline;
use super::view::SessionView;
use super::{CaptureError, Origin};
use crate::events::Event;
use crate::media::Error as MediaError;
use crate::model::{
    CaptureRequest, CaptureState, CaptureStatus, MediaPackage, PackageState, Template,
};
use crate::packages::STAGING_MARK;

/// How long an opened gate may take to pass its first frame.
pub(super) const GATE_WITHIN: Duration = Duration::from_secs(3);
/// Recording stops while this many seconds of it would still fit, to finish cleanly.
pub(super) const DISK_MARGIN_SECS: u64 = 30;

/// Why the gate did not open in time.
pub(super) fn gate_closed() -> MediaError {
    MediaError::Timeout {
        what: "the recording did not start",
        after: GATE_WITHIN,
    }
}

/// What a start asks for, besides its template.
pub(super) struct Asked {
    pub request: CaptureRequest,
    pub origin: Origin,
    /// When the caller asked (the start latency counts from it).
    pub at: Instant,
}

impl Actor {
    /// Starts a capture; returns the message back when it must wait for another session.
    pub(super) fn start(
        &mut self,
        asked: Box<Asked>,
        template: Result<Template, CaptureError>,
        reply: Reply<CaptureStatus>,
    ) -> Option<Msg> {
        if let Err(e) = validate_request(&asked.request) {
            let _ = reply.send(Err(e));
            return None;
        }
        // A session whose stop time has come ends first, so back-to-back events follow on.
        self.stop_due_sessions();
        match self.admit_start(template.as_ref().ok()) {
            Admission::Go => {}
            Admission::Wait => {
                return Some(Msg::Start {
                    asked,
                    template,
                    reply,
                });
            }
            Admission::Refuse(e) => {
                let _ = reply.send(Err(e));
                return None;
            }
        }
        self.begin(*asked, template, reply);
        None
    }

    /// Whether a new capture may start beside the sessions there are (and the test run).
    fn admit_start(&self, template: Option<&Template>) -> Admission {
        if self.test.is_some() {
            return Admission::Wait;
        }
        let concurrent = self.deps.settings.concurrent_captures();
        let needed = if concurrent && self.phases().any(|p| p == Phase::Stopping) {
            template
                .map(|t| self.exclusive_devices(t))
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let others: Vec<Other> = self
            .sessions
            .values()
            .map(|s| Other {
                phase: s.phase,
                holds_a_needed_device: s.view.node_devices.values().any(|d| needed.contains(d)),
            })
            .collect();
        machine::admit_start(concurrent, &others)
    }

    /// The devices a template would open that cannot be opened twice (V4L2 and ALSA ones).
    fn exclusive_devices(&self, template: &Template) -> Vec<String> {
        let Ok(graph) = normalised(template) else {
            return Vec::new();
        };
        sources::resolve(&graph, &self.deps.devices)
            .devices
            .into_values()
            .filter(|id| {
                self.deps
                    .devices
                    .get(id)
                    .is_some_and(|d| matches!(d.plugin.as_str(), "v4l2" | "alsa"))
            })
            .collect()
    }

    /// The checks that need the template, then the pipeline and the session in `starting`.
    fn begin(
        &mut self,
        asked: Asked,
        template: Result<Template, CaptureError>,
        reply: Reply<CaptureStatus>,
    ) {
        let template = match template {
            Ok(t) => t,
            Err(e) => return refuse(reply, e),
        };
        let duration = match asked.origin.stop_at {
            Some(at) => Some((at - crate::sys::time::now_ms()).max(0)),
            None => asked.request.duration.or(template.defaults.duration),
        };
        // Room for the whole duration (two hours when open-ended), plus the margin kept at
        // the end.
        let bitrate = graph_bitrate(&template.graph);
        let seconds = duration.map_or(7200, |d| (d / 1000) as u64) + DISK_MARGIN_SECS;
        let needed = bitrate / 8 * seconds;
        let usable = self.usable_bytes();
        if usable < needed {
            return refuse(reply, CaptureError::DiskLow { needed, usable });
        }
        self.hints
            .send_modify(|h| h.last_template = Some(template.id.clone()));
        let hot = self.take_armed(&template);
        let was_hot = hot.is_some();
        let prepared = match hot {
            Some(p) => p,
            None => {
                // Devices the armed pipeline holds must be free for the new one.
                self.free_devices();
                match self.prepare(&template) {
                    Ok(p) => p,
                    Err(e) => return refuse(reply, e),
                }
            }
        };
        let (id, flowing, flowing_by) = (
            prepared.id.clone(),
            prepared.is_flowing(),
            prepared.flowing_by,
        );
        let mut session = self.new_session(prepared, asked, &template, duration, bitrate, was_hot);
        session.wait = Some(Wait {
            awaited: Awaited::Data,
            until: flowing_by,
            since: Instant::now(),
            reply: Some(reply),
        });
        self.sessions.insert(id.clone(), session);
        if flowing {
            self.apply(&id, Command::Flowing, Extra::default());
        }
    }

    /// The session for a prepared pipeline, in `starting`.
    fn new_session(
        &mut self,
        mut prepared: Prepared,
        asked: Asked,
        template: &Template,
        duration: Option<i64>,
        bitrate: u64,
        was_hot: bool,
    ) -> Session {
        // Faults that were already there (a test device unplugged) apply from the start.
        for (node, device) in &prepared.resolved.devices {
            if let Some(d) = self.deps.devices.get(device) {
                super::actor::apply_device(&mut prepared.pipeline, node, &d);
            }
        }
        let Asked {
            request,
            origin,
            at: asked_at,
        } = asked;
        let title = self.title_for(&request, template);
        let mut view = starting_view(&prepared, template, &origin, title.clone(), asked_at);
        view.bitrate = bitrate;
        view.hot_start = was_hot;
        let package = new_package(&prepared, template, request, &origin, title);
        let Prepared {
            template: ready,
            pipeline,
            ..
        } = prepared;
        Session {
            phase: Phase::Starting,
            view,
            package,
            recorders: pipeline.plan().recorders.clone(),
            root: ready.graph.root.clone(),
            early: None,
            pipeline: Some(pipeline),
            wait: None,
            retries: Vec::new(),
            asked: asked_at,
            duration,
        }
    }

    /// The request's title, or one made from the template's pattern.
    fn title_for(&self, request: &CaptureRequest, template: &Template) -> String {
        request
            .title
            .clone()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| {
                title_from(
                    template
                        .defaults
                        .title_pattern
                        .as_deref()
                        .unwrap_or("{template} {date} {time}"),
                    &template.name,
                    &self.deps.settings.timezone(),
                )
            })
    }

    /// The gate of a starting session opens once data flows.
    pub(super) fn open_gate_to_start(&mut self, id: &str) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        if session.awaits_gate() {
            return;
        }
        let opening = session.pipeline.as_mut().and_then(|p| p.record(true));
        match (opening, session.wait.as_mut()) {
            (Some(n), Some(wait)) => {
                wait.awaited = Awaited::Gate(n);
                wait.until = Instant::now() + GATE_WITHIN;
            }
            _ => self.abandon_start(id, CaptureError::Pipeline(gate_closed())),
        }
    }

    /// The first frame passed the gate at `at`: the session records from then on.
    pub(super) fn started(&mut self, id: &str, at: Instant) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        session.enter(Phase::Capturing);
        let _ = std::fs::remove_file(session.view.dir.join(STAGING_MARK));
        log::info!(
            "capture {id} started ({}), template {}",
            if session.view.hot_start {
                "hot inputs"
            } else {
                "cold start"
            },
            session.view.template_id
        );
        let (now, now_ms) = (Instant::now(), crate::sys::time::now_ms());
        // The session starts when its first frame passed the gate, not when it was asked.
        let started_wall = now_ms - now.saturating_duration_since(at).as_millis() as i64;
        session.view.started_wall = started_wall;
        session.view.timeline = Timeline::running(at);
        session.view.start_latency = at.saturating_duration_since(session.asked);
        if session.view.stop_at.is_none() {
            session.view.stop_at = session.duration.map(|d| now_ms + d);
        }
        session.package.creation_date = now_ms;
        let reply = session.wait.take().and_then(|w| w.reply);
        let status = session.status();
        let announced = session.state_event();
        self.outbox.save(&session.package);
        self.outbox.announce(announced);
        if let Some(reply) = reply {
            self.outbox.reply(reply, Ok(status));
        }
    }

    /// The start failed: the pipeline and its directory go, the caller hears why.
    pub(super) fn abandon_start(&mut self, id: &str, error: CaptureError) {
        let Some(mut session) = self.sessions.remove(id) else {
            return;
        };
        log::warn!("capture {id} did not start: {error}");
        drop(session.pipeline.take());
        let _ = std::fs::remove_dir_all(&session.view.dir);
        if let Some(reply) = session.wait.take().and_then(|w| w.reply) {
            let _ = reply.send(Err(error));
        }
    }

    /// Why a starting session's wait ran out.
    pub(super) fn start_timed_out(&self, id: &str) -> CaptureError {
        let waited_for_data = self
            .sessions
            .get(id)
            .and_then(|s| s.wait.as_ref())
            .is_some_and(|w| w.awaited == Awaited::Data);
        CaptureError::Pipeline(if waited_for_data {
            not_flowing()
        } else {
            gate_closed()
        })
    }
}

impl Session {
    /// The event that tells this session's state on the bus.
    pub(super) fn state_event(&self) -> Event {
        Event::CaptureState {
            session_id: self.view.id.clone(),
            state: self.view.state,
            media_package_id: self.package.id.clone(),
            error: self.view.error.clone(),
        }
    }
}

fn refuse(reply: Reply<CaptureStatus>, error: CaptureError) {
    let _ = reply.send(Err(error));
}

/// The package a new session records into, in `capturing`.
fn new_package(
    prepared: &Prepared,
    template: &Template,
    request: CaptureRequest,
    origin: &Origin,
    title: String,
) -> MediaPackage {
    let mut tags = request.tags.clone();
    for t in &template.defaults.tags {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    MediaPackage {
        id: prepared.id.clone(),
        title,
        creation_date: 0,
        root: prepared.dir.to_string_lossy().into_owned(),
        outputs: BTreeMap::new(),
        sources: prepared
            .resolved
            .sources
            .iter()
            .map(|s| (s.node_id.clone(), s.clone()))
            .collect(),
        publishing: Map::new(),
        processing: crate::templates::masked(&prepared.template).graph,
        state: PackageState::Capturing,
        duration: 0,
        tags,
        metadata: request.metadata.clone(),
        speaker: crate::model::speaker::speaker_number(request.speaker_info.as_ref()),
        speaker_info: request.speaker_info.clone(),
        template_id: template.id.clone(),
        event_id: origin.event_id.clone(),
        markers: Vec::new(),
        error: None,
        publishing_overrides_by_administrator: origin.overrides_by_administrator
            && request.publishing_overrides.is_some(),
        request,
    }
}

/// What readers see of a new session while it starts.
fn starting_view(
    prepared: &Prepared,
    template: &Template,
    origin: &Origin,
    title: String,
    asked_at: Instant,
) -> SessionView {
    let plan = prepared.pipeline.plan();
    SessionView {
        id: prepared.id.clone(),
        state: CaptureState::Starting,
        title,
        template_id: template.id.clone(),
        event_id: origin.event_id.clone(),
        started_wall: 0,
        timeline: Timeline::running(asked_at),
        recorded: None,
        stop_at: origin.stop_at,
        error: None,
        pipeline: Some(prepared.pipeline.readout().clone()),
        node_kinds: prepared
            .template
            .graph
            .nodes
            .iter()
            .map(|n| (n.id.clone(), n.kind))
            .collect(),
        node_devices: prepared.resolved.devices.clone(),
        lost_since: BTreeMap::new(),
        encoders: plan.encoders.iter().map(|e| e.to_string()).collect(),
        outputs: plan
            .recorders
            .iter()
            .map(|r| (r.node.clone(), r.file.clone()))
            .collect(),
        dir: prepared.dir.clone(),
        bitrate: 0,
        hot_start: false,
        start_latency: Duration::ZERO,
    }
}
