//! Callers' commands to running sessions: stop, pause, resume, extend, stop at, markers,
//! a node's service (a live stream turned on or off), and dropping the media kept ready.
//! Each picks its session, asks the state machine, and waits (parked) while the session
//! waits for its pipeline.

use std::time::Instant;

use super::actor::{Actor, Control, Msg, Reply};
use super::machine::{self, Admission, Command, Outcome};
use super::session::Extra;
use super::{CaptureError, MAX_MARKERS_PER_SESSION};
use crate::events::Event;
use crate::model::{CaptureStatus, Marker, NodeType};

impl Actor {
    /// The session a call means: the one named, else the only active one.
    /// The session a command is for, with the reply still to send; `None` once the reply
    /// carried the refusal.
    fn pick_or_refuse<T>(
        &self,
        wanted: Option<&str>,
        reply: Reply<T>,
    ) -> Option<(String, Reply<T>)> {
        match self.pick(wanted) {
            Ok(id) => Some((id, reply)),
            Err(e) => {
                let _ = reply.send(Err(e));
                None
            }
        }
    }

    fn pick(&self, wanted: Option<&str>) -> Result<String, CaptureError> {
        match wanted {
            Some(id) => self
                .sessions
                .get(id)
                .map(|s| s.view.id.clone())
                .ok_or_else(|| CaptureError::SessionNotFound(id.to_string())),
            None => {
                let active: Vec<&String> = self
                    .sessions
                    .iter()
                    .filter(|(_, s)| s.view.is_active())
                    .map(|(id, _)| id)
                    .collect();
                match active.as_slice() {
                    [] => Err(CaptureError::Idle),
                    [one] => Ok((*one).clone()),
                    _ => Err(CaptureError::SessionRequired),
                }
            }
        }
    }

    /// Stop, pause, resume, extend or stop-at; returns the message back when it must wait.
    pub(super) fn control(
        &mut self,
        control: Control,
        session: Option<String>,
        reply: Reply<CaptureStatus>,
    ) -> Option<Msg> {
        let (id, reply) = self.pick_or_refuse(session.as_deref(), reply)?;
        let picked = &self.sessions[&id];
        let command = match control {
            Control::Stop => Command::Stop,
            Control::Pause => Command::Pause,
            Control::Resume => Command::Resume,
            Control::Extend(by_ms) => Command::Extend {
                by_ms,
                stop_at: picked.view.stop_at,
            },
            Control::StopAt(at) => Command::StopAt(at),
        };
        match machine::decide(picked.phase, command) {
            Outcome::Wait => Some(Msg::Control {
                control,
                session,
                reply,
            }),
            outcome => {
                self.carry_out(&id, command, outcome, Extra::reply(reply));
                None
            }
        }
    }

    /// Adds a marker at the session's recorded time; returns the message back when it must
    /// wait.
    pub(super) fn marker(
        &mut self,
        session: Option<String>,
        title: String,
        description: Option<String>,
        reply: Reply<Marker>,
    ) -> Option<Msg> {
        let (id, reply) = self.pick_or_refuse(session.as_deref(), reply)?;
        let picked = self.sessions.get_mut(&id)?;
        let command = Command::Marker {
            markers: picked.package.markers.len(),
        };
        match machine::decide(picked.phase, command) {
            Outcome::Wait => {
                return Some(Msg::Marker {
                    session,
                    title,
                    description,
                    reply,
                });
            }
            Outcome::Refuse(e) => {
                let _ = reply.send(Err(e));
                return None;
            }
            Outcome::Go { .. } | Outcome::Ignore => {}
        }
        debug_assert!(picked.package.markers.len() < MAX_MARKERS_PER_SESSION);
        let marker = Marker {
            time: picked.view.recorded_now(Instant::now()).as_millis() as i64,
            title,
            description,
        };
        // The session keeps its list for the manifest written at the next state change; the
        // store gets one appended row, never the whole package again.
        picked.package.markers.push(marker.clone());
        self.outbox.add_marker(&picked.package.id, &marker);
        self.outbox.announce(Event::MarkerAdded {
            session_id: id,
            marker: marker.clone(),
        });
        self.outbox.reply(reply, Ok(marker));
        None
    }

    /// Runs a service of a node of a running session; `graph` is the session id or its
    /// template's id. `rtmpOutput` nodes offer `enable`, `disable` and `stats`.
    #[expect(clippy::expect_used, reason = "invariant: stats serialise")]
    pub(super) fn node_service(
        &self,
        graph: &str,
        node: &str,
        service: &str,
    ) -> Result<serde_json::Value, CaptureError> {
        let not_found = || CaptureError::NodeNotFound {
            graph: graph.to_string(),
            node: node.to_string(),
        };
        let unknown = |available: &str| CaptureError::UnknownService {
            node: node.to_string(),
            service: service.to_string(),
            available: available.into(),
        };
        let session = self
            .sessions
            .values()
            .filter(|s| s.view.is_active())
            .find(|s| s.view.id == graph || s.view.template_id == graph)
            .ok_or_else(not_found)?;
        let kind = session.view.node_kinds.get(node).ok_or_else(not_found)?;
        if *kind != NodeType::RtmpOutput {
            return Err(unknown("none"));
        }
        let pipeline = session.pipeline.as_ref().ok_or_else(not_found)?;
        let stats = || pipeline.readout().stream_stats(node).ok_or_else(not_found);
        stats()?;
        match service {
            "enable" => pipeline.set_stream_enabled(node, true),
            "disable" => pipeline.set_stream_enabled(node, false),
            "stats" => true,
            _ => return Err(unknown("enable, disable, stats")),
        };
        Ok(serde_json::to_value(stats()?).expect("stats serialise"))
    }

    /// Drops the armed pipeline and the previews; the armed one is built again by the arming
    /// task a little later (after the caller's device rescan), previews when next asked
    /// for. Refused while a session records; waits while one starts or stops.
    pub(super) fn reset_media(&mut self, reply: Reply<()>) -> Option<Msg> {
        if self.test.is_some() {
            return Some(Msg::ResetMedia { reply });
        }
        match machine::admit_exclusive(self.phases()) {
            Admission::Wait => return Some(Msg::ResetMedia { reply }),
            Admission::Refuse(e) => {
                let _ = reply.send(Err(e));
                return None;
            }
            Admission::Go => {}
        }
        self.free_devices();
        self.hold_arming();
        let _ = reply.send(Ok(()));
        None
    }
}
