//! Carrying out what the state machine decides for a session: closing and opening the
//! gate, ending the streams, finalising the files, answering the caller when the pipeline
//! has done its part; and the engine's own reasons to end a session (its stop time, a
//! nearly full disk, a failed pipeline, a shutdown).
//!
//! Every transition of a session goes through `apply` (or `carry_out` with an outcome
//! already decided), so the machine's table is the one place legality lives.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::CaptureError;
use super::actor::{Actor, Msg};
use super::machine::{self, Command, Effect, Outcome, Phase};
use super::recovery::finalize_outputs;
use super::session::{Awaited, Early, Extra, Wait};
use super::start::{DISK_MARGIN_SECS, GATE_WITHIN};
use crate::events::Event;
use crate::media::Error as MediaError;
use crate::model::{AlarmCode, AlarmLevel, CaptureState, Output, PackageState};

/// How long the streams may take to end after a stop.
const END_WITHIN: Duration = Duration::from_secs(15);
/// … and after a shutdown, which has a few seconds in all.
const END_WITHIN_AT_SHUTDOWN: Duration = Duration::from_secs(2);

impl Actor {
    /// Runs `command` through the machine for session `id` and carries out its outcome.
    pub(super) fn apply(&mut self, id: &str, command: Command, extra: Extra) {
        let Some(session) = self.sessions.get(id) else {
            return;
        };
        let outcome = machine::decide(session.phase, command);
        self.carry_out(id, command, outcome, extra);
    }

    /// Carries out what the machine decided about `command` for session `id`.
    pub(super) fn carry_out(&mut self, id: &str, command: Command, outcome: Outcome, extra: Extra) {
        let (to, effect) = match outcome {
            Outcome::Go { to, effect } => (to, effect),
            Outcome::Refuse(error) => {
                if let Some(reply) = extra.reply {
                    let _ = reply.send(Err(error));
                }
                return;
            }
            // Callers park what must wait before it gets here; anything else has nothing
            // to do and nobody to tell.
            Outcome::Wait | Outcome::Ignore => return,
        };
        match effect {
            Effect::EndStreams => self.end_streams(id, extra),
            Effect::CloseGate => self.close_gate(id, extra),
            Effect::OpenGate if to == Phase::Starting => self.open_gate_to_start(id),
            Effect::OpenGate => self.open_gate_to_resume(id, extra),
            Effect::MoveStop(at) => {
                if let Some(session) = self.sessions.get_mut(id) {
                    session.view.stop_at = Some(at);
                    if let Some(reply) = extra.reply {
                        self.outbox.reply(reply, Ok(session.status()));
                    }
                }
            }
            // Markers carry their own data: `Actor::marker` adds them.
            Effect::AddMarker => {}
            Effect::Recording => self.recording(id, extra.at),
            Effect::AbandonStart => {
                let error = self.start_timed_out(id);
                self.abandon_start(id, error);
            }
            Effect::Finalise => self.finalise(id, command == Command::WaitExpired),
        }
    }

    fn close_gate(&mut self, id: &str, extra: Extra) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        if let Some(p) = session.pipeline.as_mut() {
            p.record(false);
        }
        session.view.timeline.pause(Instant::now());
        session.enter(Phase::Paused);
        let (event, status) = (session.state_event(), session.status());
        self.outbox.announce(event);
        if let Some(reply) = extra.reply {
            self.outbox.reply(reply, Ok(status));
        }
    }

    /// The gate opens again; the session records once a frame passed it (or, if none does
    /// in time, as of when the resume was asked).
    fn open_gate_to_resume(&mut self, id: &str, extra: Extra) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        let now = Instant::now();
        let opening = session.pipeline.as_mut().and_then(|p| p.record(true));
        session.enter(Phase::Resuming);
        session.wait = Some(Wait {
            awaited: Awaited::Gate(opening.unwrap_or_default()),
            until: now + GATE_WITHIN,
            since: now,
            reply: extra.reply,
        });
        if opening.is_none() {
            // No gate to wait for.
            self.apply(id, Command::WaitExpired, Extra::default());
        }
    }

    /// A start or a resume is complete: the gate passed a frame at `at` (or, for a resume
    /// that did not see one, the wait ran out).
    fn recording(&mut self, id: &str, at: Option<Instant>) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        if session.phase == Phase::Starting {
            if let Some(at) = at {
                self.started(id, at);
            }
            return;
        }
        let wait = session.wait.take();
        let at = at
            .or(wait.as_ref().map(|w| w.since))
            .unwrap_or_else(Instant::now);
        if let Some(p) = &session.pipeline {
            p.force_keyframe();
        }
        session.view.timeline.resume(at);
        session.enter(Phase::Capturing);
        let (event, status) = (session.state_event(), session.status());
        self.outbox.announce(event);
        if let Some(reply) = wait.and_then(|w| w.reply) {
            self.outbox.reply(reply, Ok(status));
        }
    }

    /// Ends a session's recording: the gate's streams end so the files are complete; the
    /// session waits in `stopping` for that.
    fn end_streams(&mut self, id: &str, extra: Extra) {
        let within = if self.shutting_down {
            END_WITHIN_AT_SHUTDOWN
        } else {
            END_WITHIN
        };
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        if extra.early.is_some() {
            session.early = extra.early;
        }
        session.enter(Phase::Stopping);
        let now = Instant::now();
        session.view.timeline.stop(now);
        if let Some(p) = session.pipeline.as_mut() {
            p.end();
        }
        session.wait = Some(Wait {
            awaited: Awaited::End,
            until: now + within,
            since: now,
            reply: extra.reply,
        });
        let event = session.state_event();
        self.outbox.announce(event);
    }

    /// The streams ended (or `expired` waiting for them): the pipeline stops, the session
    /// is `processing`, and its files are finalised on a thread of their own.
    fn finalise(&mut self, id: &str, expired: bool) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        let wait = session.wait.take();
        if expired {
            let waited = wait.as_ref().map_or(END_WITHIN, |w| w.until - w.since);
            let e = MediaError::Timeout {
                what: "the recording did not end",
                after: waited,
            };
            log::error!("capture {id}: {e}");
            session.early.get_or_insert(Early::partial(e.to_string()));
        }
        let mut pipeline = session.pipeline.take();
        if let Some(p) = pipeline.as_mut() {
            p.halt();
            session.view.recorded = Some(p.readout().recorded());
        }
        session.view.pipeline = None;
        session.enter(Phase::Processing);
        session.package.state = PackageState::Processing;
        session.package.duration = session.view.recorded_now(Instant::now()).as_millis() as i64;
        let (event, status) = (session.state_event(), session.status());
        self.outbox.announce(event);
        self.outbox.save(&session.package);
        if let Some(reply) = wait.and_then(|w| w.reply) {
            self.outbox.reply(reply, Ok(status));
        }
        if self.shutting_down {
            // Left in `processing`: the next start finishes the files and marks it partial.
            log::warn!(
                "capture {id} interrupted by shutdown; it will be finished at the next start"
            );
            self.sessions.remove(id);
            return;
        }
        let (dir, recorders, root) = (
            session.view.dir.clone(),
            session.recorders.clone(),
            session.root.clone(),
        );
        let tx = self.tx.clone();
        let session_id = id.to_string();
        let spawned = std::thread::Builder::new()
            .name("castd-finalise".into())
            .spawn(move || {
                // The files' last sync, then the rewrite.
                drop(pipeline);
                let (outputs, problems) = finalize_outputs(&dir, &recorders, &root);
                let _ = tx.send(Msg::Processed {
                    session: session_id,
                    outputs,
                    problems,
                });
            });
        match spawned {
            Ok(finaliser) => {
                self.finalisers.push(finaliser);
                log::info!("capture {id} stopped; finalising");
            }
            Err(e) => {
                // Out of threads: the package fails with the reason, the recording stays on
                // disk as written (fragmented MP4, playable), and the engine goes on.
                log::error!("cannot start finalising capture {id}: {e}");
                self.processed(
                    id,
                    BTreeMap::new(),
                    vec![format!("the recording could not be finalised ({e})")],
                );
            }
        }
    }

    /// The files are final: the package is stored complete (or partial, or failed), then
    /// the session is announced idle and leaves the engine.
    pub(super) fn processed(
        &mut self,
        id: &str,
        outputs: BTreeMap<String, Output>,
        problems: Vec<String>,
    ) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        let package = &mut session.package;
        let main_ok = outputs.contains_key(&session.root);
        package.outputs = outputs;
        package.state = match (&session.early, main_ok) {
            (_, false) => PackageState::Failed,
            (Some(early), true) => early.state,
            (None, true) => PackageState::Complete,
        };
        let mut reasons: Vec<String> = session.early.iter().map(|e| e.reason.clone()).collect();
        reasons.extend(problems);
        package.error = (!reasons.is_empty()).then(|| reasons.join("; "));
        log::info!("capture {id} is {:?}", package.state);
        self.outbox.save(package);
        self.outbox.announce(Event::CaptureState {
            session_id: id.to_string(),
            state: CaptureState::Idle,
            media_package_id: package.id.clone(),
            error: session.view.error.clone(),
        });
        // Readers see the session until its package is stored.
        let (tx, session) = (self.tx.clone(), id.to_string());
        self.outbox.then(move || {
            let _ = tx.send(Msg::Saved { session });
        });
    }

    /// The pipeline of session `id` failed: a start fails; a recording ends early, with an
    /// alarm.
    pub(super) fn pipeline_failed(&mut self, id: &str, error: MediaError) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        let outcome = machine::decide(session.phase, Command::Failed);
        match outcome {
            Outcome::Go {
                effect: Effect::AbandonStart,
                ..
            } => self.abandon_start(id, CaptureError::Pipeline(error)),
            Outcome::Go { .. } => {
                let reason = error.to_string();
                session.view.error = Some(reason.clone());
                self.outbox.announce(Event::Alarm {
                    code: AlarmCode::CaptureFailed,
                    level: AlarmLevel::Error,
                    message: format!("capture {id} failed: {reason}"),
                });
                self.carry_out(
                    id,
                    Command::Failed,
                    outcome,
                    Extra::early(Early::partial(reason)),
                );
            }
            _ => {}
        }
    }

    /// Stops the sessions whose stop time has come.
    pub(super) fn stop_due_sessions(&mut self) {
        let now_ms = crate::sys::time::now_ms();
        let due: Vec<String> = self
            .sessions
            .values()
            .filter(|s| s.view.stop_at.is_some_and(|at| at <= now_ms))
            .filter(|s| {
                matches!(
                    machine::decide(s.phase, Command::StopDue),
                    Outcome::Go { .. }
                )
            })
            .map(|s| s.view.id.clone())
            .collect();
        for id in due {
            log::info!("capture {id} reached its stop time");
            self.apply(&id, Command::StopDue, Extra::default());
        }
    }

    /// Stops recordings cleanly before the disk is full.
    pub(super) fn guard_disk(&mut self) {
        let rate: u64 = self
            .sessions
            .values()
            .filter(|s| s.view.is_active())
            .map(|s| s.view.bitrate)
            .sum();
        if rate == 0 {
            return;
        }
        let usable = self.usable_bytes();
        if usable >= rate / 8 * DISK_MARGIN_SECS {
            return;
        }
        let recording: Vec<String> = self
            .sessions
            .values()
            .filter(|s| {
                matches!(
                    machine::decide(s.phase, Command::DiskFull),
                    Outcome::Go { .. }
                )
            })
            .map(|s| s.view.id.clone())
            .collect();
        for id in recording {
            let message =
                format!("the disk is nearly full ({usable} bytes usable): recording {id} stopped");
            log::error!("{message}");
            self.outbox.announce(Event::Alarm {
                code: AlarmCode::DiskFull,
                level: AlarmLevel::Error,
                message: message.clone(),
            });
            self.apply(
                &id,
                Command::DiskFull,
                Extra::early(Early::partial(message)),
            );
        }
    }

    /// A shutdown cuts session `id` short: a start is abandoned, a recording ends within a
    /// couple of seconds and is left for recovery to finish.
    pub(super) fn interrupt(&mut self, id: &str) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        match session.phase {
            Phase::Starting => self.abandon_start(id, CaptureError::Gone),
            Phase::Resuming => {
                self.apply(id, Command::WaitExpired, Extra::default());
                self.apply(id, Command::Stop, Extra::default());
            }
            Phase::Capturing | Phase::Paused => self.apply(id, Command::Stop, Extra::default()),
            Phase::Stopping => {
                if let Some(wait) = session.wait.as_mut() {
                    wait.until = wait.until.min(Instant::now() + END_WITHIN_AT_SHUTDOWN);
                }
            }
            Phase::Idle | Phase::Processing | Phase::Error => {}
        }
    }
}
