//! The capture state machine, pure: a session's phase and a command — from a caller, from
//! the engine's own clock and disk guard, or from the session's pipeline — give the effect
//! to carry out and the next phase, a reason to wait, or the refusal the API answers with.
//! No I/O, no clock, no GStreamer here: the engine thread carries the effects out.
//!
//! Phases are the states the API shows (`idle → starting → capturing ⇄ paused → stopping →
//! processing → idle`, and `error`), plus `resuming`: a paused session whose gate was told
//! to open again and that waits for the first frame through it (shown as `paused`). A
//! session waits for its pipeline while `starting`, `resuming` and `stopping`; a caller's
//! command addressed to it then waits too (`Outcome::Wait`) and is carried out against the
//! phase the wait ends in, so the answer is the one a caller got when the engine itself
//! waited — only other sessions no longer wait with it.

use super::{CaptureError, MAX_MARKERS_PER_SESSION};
use crate::model::CaptureState;

/// Where a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Idle,
    Starting,
    Capturing,
    Paused,
    /// Paused, with the gate opening again.
    Resuming,
    Stopping,
    Processing,
    /// The API's `error` state. No session enters it: a failed start goes back to idle and a
    /// failed recording is finalised as partial. It stays so every state the API names has
    /// its phase, and the table below shows that nothing leaves it by a command.
    #[allow(dead_code)]
    Error,
}

impl Phase {
    #[cfg(test)]
    pub(crate) const ALL: [Phase; 8] = [
        Phase::Idle,
        Phase::Starting,
        Phase::Capturing,
        Phase::Paused,
        Phase::Resuming,
        Phase::Stopping,
        Phase::Processing,
        Phase::Error,
    ];

    /// The state the API shows.
    pub(super) fn shown(self) -> CaptureState {
        match self {
            Phase::Idle => CaptureState::Idle,
            Phase::Starting => CaptureState::Starting,
            Phase::Capturing => CaptureState::Capturing,
            Phase::Paused | Phase::Resuming => CaptureState::Paused,
            Phase::Stopping => CaptureState::Stopping,
            Phase::Processing => CaptureState::Processing,
            Phase::Error => CaptureState::Error,
        }
    }

    /// The session waits for its pipeline.
    pub(super) fn is_waiting(self) -> bool {
        matches!(self, Phase::Starting | Phase::Resuming | Phase::Stopping)
    }

    /// The name a refusal gives, as the API spells the state.
    fn name(self) -> String {
        serde_json::to_value(self.shown())
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// What may happen to a session.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Command {
    /// Ends the recording. Legal in capturing and paused; waits in starting, resuming and
    /// stopping; refused (`NotCapturing`) in idle, processing and error.
    Stop,
    /// Closes the gate. Legal in capturing; waits in starting, resuming and stopping;
    /// refused (`NotCapturing`) in idle, paused, processing and error.
    Pause,
    /// Opens the gate again. Legal in paused; waits in starting, resuming and stopping;
    /// refused (`NotPaused`) in idle, capturing, processing and error.
    Resume,
    /// Moves the stop time `by_ms` later (1 ms to 24 h) from `stop_at`. Legal in capturing
    /// and paused, refused without a stop time (`NoStopTime`); waits in starting, resuming
    /// and stopping; refused (`NotCapturing`) in idle, processing and error.
    Extend { by_ms: i64, stop_at: Option<i64> },
    /// Sets the stop time (ms since the epoch). Legal in capturing and paused; waits in
    /// starting, resuming and stopping; refused (`NotCapturing`) in idle, processing and
    /// error.
    StopAt(i64),
    /// Adds a marker to a session that has `markers` already. Legal in capturing and paused
    /// below `MAX_MARKERS_PER_SESSION` (`TooManyMarkers` at it); waits in starting, resuming
    /// and stopping; refused (`NotCapturing`) in idle, processing and error.
    Marker { markers: usize },
    /// The engine's clock: the stop time came. Ends capturing and paused sessions; ignored
    /// elsewhere (a waiting session meets it at the next tick).
    StopDue,
    /// The engine's disk guard: the disk is nearly full. Ends capturing and paused sessions;
    /// ignored elsewhere.
    DiskFull,
    /// The pipeline: data reached the gate. Opens the gate of a starting session; ignored
    /// elsewhere.
    Flowing,
    /// The pipeline: the first frame passed the opened gate. Completes a start or a resume;
    /// ignored elsewhere.
    GateOpen,
    /// The pipeline: it failed. A start fails; capturing and paused sessions end early; a
    /// resume settles first (waits); ignored in stopping and after.
    Failed,
    /// The pipeline: every file saw the end of its streams. A stopping session goes on to
    /// processing; ignored elsewhere.
    Ended,
    /// The engine's clock: the pipeline did not answer in time. A start fails, a resume
    /// counts from when it was asked, a stop goes on to processing with what was written;
    /// ignored where nothing waits.
    WaitExpired,
}

/// What to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// End-of-stream into the gate; the session waits for the files' end.
    EndStreams,
    CloseGate,
    OpenGate,
    /// The stop time becomes this (ms since the epoch).
    MoveStop(i64),
    AddMarker,
    /// The gate records: a start or a resume is complete.
    Recording,
    /// The start failed: the session and its pipeline go.
    AbandonStart,
    /// The streams ended (or not in time): the files are finalised.
    Finalise,
}

/// The machine's answer.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Carry out `effect`; the session is in `to` afterwards.
    Go {
        to: Phase,
        effect: Effect,
    },
    /// The session waits for its pipeline; the command waits for that to end.
    Wait,
    Refuse(CaptureError),
    /// Nothing to do in this phase.
    Ignore,
}

/// The longest extension of a stop time, in ms (a day).
const MAX_EXTENSION_MS: i64 = 86_400_000;

/// What `command` does to a session in `phase`.
pub(crate) fn decide(phase: Phase, command: Command) -> Outcome {
    use Phase::*;
    let go = |to, effect| Outcome::Go { to, effect };
    let recording = matches!(phase, Capturing | Paused);
    let not_capturing = || Outcome::Refuse(CaptureError::NotCapturing(phase.name()));
    match command {
        Command::Stop
        | Command::Pause
        | Command::Resume
        | Command::Extend { .. }
        | Command::StopAt(_)
        | Command::Marker { .. }
            if phase.is_waiting() =>
        {
            Outcome::Wait
        }
        Command::Stop if recording => go(Stopping, Effect::EndStreams),
        Command::Pause if phase == Capturing => go(Paused, Effect::CloseGate),
        Command::Resume if phase == Paused => go(Resuming, Effect::OpenGate),
        Command::Resume => Outcome::Refuse(CaptureError::NotPaused(phase.name())),
        Command::Extend { by_ms, stop_at } if recording => extend(phase, by_ms, stop_at),
        Command::StopAt(at) if recording => go(phase, Effect::MoveStop(at)),
        Command::Marker { markers } if recording => {
            if markers >= MAX_MARKERS_PER_SESSION {
                Outcome::Refuse(CaptureError::TooManyMarkers {
                    limit: MAX_MARKERS_PER_SESSION,
                })
            } else {
                go(phase, Effect::AddMarker)
            }
        }
        Command::Stop
        | Command::Pause
        | Command::Extend { .. }
        | Command::StopAt(_)
        | Command::Marker { .. } => not_capturing(),
        Command::StopDue | Command::DiskFull if recording => go(Stopping, Effect::EndStreams),
        Command::Flowing if phase == Starting => go(Starting, Effect::OpenGate),
        Command::GateOpen if matches!(phase, Starting | Resuming) => {
            go(Capturing, Effect::Recording)
        }
        Command::Failed => match phase {
            Starting => go(Idle, Effect::AbandonStart),
            Capturing | Paused => go(Stopping, Effect::EndStreams),
            Resuming => Outcome::Wait,
            _ => Outcome::Ignore,
        },
        Command::Ended if phase == Stopping => go(Processing, Effect::Finalise),
        Command::WaitExpired => match phase {
            Starting => go(Idle, Effect::AbandonStart),
            Resuming => go(Capturing, Effect::Recording),
            Stopping => go(Processing, Effect::Finalise),
            _ => Outcome::Ignore,
        },
        Command::StopDue
        | Command::DiskFull
        | Command::Flowing
        | Command::GateOpen
        | Command::Ended => Outcome::Ignore,
    }
}

fn extend(phase: Phase, by_ms: i64, stop_at: Option<i64>) -> Outcome {
    if !(1..=MAX_EXTENSION_MS).contains(&by_ms) {
        return Outcome::Refuse(CaptureError::InvalidRequest(format!(
            "duration must be 1 to {MAX_EXTENSION_MS} ms, got {by_ms}"
        )));
    }
    match stop_at {
        Some(at) => Outcome::Go {
            to: phase,
            effect: Effect::MoveStop(at + by_ms),
        },
        None => Outcome::Refuse(CaptureError::NoStopTime),
    }
}

/// Whether something that needs inputs may begin beside the sessions there are.
#[derive(Debug)]
pub(crate) enum Admission {
    Go,
    /// A session is starting or stopping: ask again when it has.
    Wait,
    Refuse(CaptureError),
}

/// What one other session means for a new start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Other {
    pub phase: Phase,
    /// It holds a device the new capture needs and that cannot be opened twice.
    pub holds_a_needed_device: bool,
}

/// A new capture. With `concurrentCaptures` off, a recording session refuses it
/// (`AlreadyRunning`) and a starting or stopping one makes it wait, as the engine used to
/// finish those first. With it on, only a stopping session holding a device the new capture
/// needs makes it wait: the device is free once that session's pipeline has stopped.
pub(crate) fn admit_start(concurrent: bool, others: &[Other]) -> Admission {
    if concurrent {
        let blocked = others
            .iter()
            .any(|o| o.phase == Phase::Stopping && o.holds_a_needed_device);
        return if blocked {
            Admission::Wait
        } else {
            Admission::Go
        };
    }
    admit_exclusive(others.iter().map(|o| o.phase))
}

/// A template test or a media reset: it needs the inputs to itself, like a start without
/// concurrent captures.
pub(crate) fn admit_exclusive(phases: impl IntoIterator<Item = Phase>) -> Admission {
    let phases: Vec<Phase> = phases.into_iter().collect();
    if phases
        .iter()
        .any(|p| matches!(p, Phase::Capturing | Phase::Paused | Phase::Resuming))
    {
        Admission::Refuse(CaptureError::AlreadyRunning)
    } else if phases.iter().any(|p| p.is_waiting()) {
        Admission::Wait
    } else {
        Admission::Go
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Phase::*;

    /// An expected outcome, written short.
    #[derive(Debug)]
    enum X {
        Go(Phase, Effect),
        Wait,
        NotCapturing(&'static str),
        NotPaused(&'static str),
        Refused(&'static str),
        Ignore,
    }

    fn matches(outcome: &Outcome, expected: &X) -> bool {
        match (outcome, expected) {
            (Outcome::Go { to, effect }, X::Go(t, e)) => to == t && effect == e,
            (Outcome::Wait, X::Wait) | (Outcome::Ignore, X::Ignore) => true,
            (Outcome::Refuse(CaptureError::NotCapturing(s)), X::NotCapturing(n))
            | (Outcome::Refuse(CaptureError::NotPaused(s)), X::NotPaused(n)) => s == n,
            (Outcome::Refuse(e), X::Refused(text)) => e.to_string() == *text,
            _ => false,
        }
    }

    /// One row: what `command` gives in each phase, in `Phase::ALL` order. Returns how many
    /// pairs were checked.
    fn row(command: Command, expected: [X; 8]) -> usize {
        for (phase, x) in Phase::ALL.into_iter().zip(&expected) {
            let outcome = decide(phase, command);
            assert!(
                matches(&outcome, x),
                "{command:?} in {phase:?}: {outcome:?}, expected {x:?}"
            );
        }
        expected.len()
    }

    /// One table, a row per command and a column per phase: long by design, so that every
    /// pair is read in one place.
    #[test]
    fn every_phase_and_command_has_its_outcome() {
        use Effect::*;
        use X::{Go as G, Ignore as I, NotCapturing as Nc, NotPaused as Np, Wait as W};
        let mut pairs = 0;
        // Idle, Starting, Capturing, Paused, Resuming, Stopping, Processing, Error
        pairs += row(
            Command::Stop,
            [
                Nc("idle"),
                W,
                G(Stopping, EndStreams),
                G(Stopping, EndStreams),
                W,
                W,
                Nc("processing"),
                Nc("error"),
            ],
        );
        pairs += row(
            Command::Pause,
            [
                Nc("idle"),
                W,
                G(Paused, CloseGate),
                Nc("paused"),
                W,
                W,
                Nc("processing"),
                Nc("error"),
            ],
        );
        pairs += row(
            Command::Resume,
            [
                Np("idle"),
                W,
                Np("capturing"),
                G(Resuming, OpenGate),
                W,
                W,
                Np("processing"),
                Np("error"),
            ],
        );
        pairs += row(
            Command::Extend {
                by_ms: 1500,
                stop_at: Some(10_000),
            },
            [
                Nc("idle"),
                W,
                G(Capturing, MoveStop(11_500)),
                G(Paused, MoveStop(11_500)),
                W,
                W,
                Nc("processing"),
                Nc("error"),
            ],
        );
        pairs += row(
            Command::StopAt(42),
            [
                Nc("idle"),
                W,
                G(Capturing, MoveStop(42)),
                G(Paused, MoveStop(42)),
                W,
                W,
                Nc("processing"),
                Nc("error"),
            ],
        );
        pairs += row(
            Command::Marker { markers: 3 },
            [
                Nc("idle"),
                W,
                G(Capturing, AddMarker),
                G(Paused, AddMarker),
                W,
                W,
                Nc("processing"),
                Nc("error"),
            ],
        );
        pairs += row(
            Command::StopDue,
            [
                I,
                I,
                G(Stopping, EndStreams),
                G(Stopping, EndStreams),
                I,
                I,
                I,
                I,
            ],
        );
        pairs += row(
            Command::DiskFull,
            [
                I,
                I,
                G(Stopping, EndStreams),
                G(Stopping, EndStreams),
                I,
                I,
                I,
                I,
            ],
        );
        pairs += row(
            Command::Flowing,
            [I, G(Starting, OpenGate), I, I, I, I, I, I],
        );
        pairs += row(
            Command::GateOpen,
            [
                I,
                G(Capturing, Recording),
                I,
                I,
                G(Capturing, Recording),
                I,
                I,
                I,
            ],
        );
        pairs += row(
            Command::Failed,
            [
                I,
                G(Idle, AbandonStart),
                G(Stopping, EndStreams),
                G(Stopping, EndStreams),
                W,
                I,
                I,
                I,
            ],
        );
        pairs += row(
            Command::Ended,
            [I, I, I, I, I, G(Processing, Finalise), I, I],
        );
        pairs += row(
            Command::WaitExpired,
            [
                I,
                G(Idle, AbandonStart),
                I,
                I,
                G(Capturing, Recording),
                G(Processing, Finalise),
                I,
                I,
            ],
        );
        assert_eq!(pairs, 13 * 8, "every command in every phase");
    }

    #[test]
    fn arguments_are_checked_where_the_command_is_legal() {
        use X::{NotCapturing as Nc, Refused as R, Wait as W};
        let out_of_range = "duration must be 1 to 86400000 ms, got 0";
        row(
            Command::Extend {
                by_ms: 0,
                stop_at: Some(10_000),
            },
            [
                Nc("idle"),
                W,
                R(out_of_range),
                R(out_of_range),
                W,
                W,
                Nc("processing"),
                Nc("error"),
            ],
        );
        let no_stop = "the capture has no stop time to move; start it with a duration";
        row(
            Command::Extend {
                by_ms: 1000,
                stop_at: None,
            },
            [
                Nc("idle"),
                W,
                R(no_stop),
                R(no_stop),
                W,
                W,
                Nc("processing"),
                Nc("error"),
            ],
        );
        let full = "the session has 1000 markers, the most it may have";
        row(
            Command::Marker {
                markers: MAX_MARKERS_PER_SESSION,
            },
            [
                Nc("idle"),
                W,
                R(full),
                R(full),
                W,
                W,
                Nc("processing"),
                Nc("error"),
            ],
        );
    }

    #[test]
    fn phases_show_as_the_api_states() {
        let shown: Vec<CaptureState> = Phase::ALL.iter().map(|p| p.shown()).collect();
        assert_eq!(
            shown,
            [
                CaptureState::Idle,
                CaptureState::Starting,
                CaptureState::Capturing,
                CaptureState::Paused,
                CaptureState::Paused,
                CaptureState::Stopping,
                CaptureState::Processing,
                CaptureState::Error,
            ]
        );
        let active: Vec<bool> = Phase::ALL.iter().map(|p| p.shown().is_active()).collect();
        assert_eq!(active, [false, true, true, true, true, true, false, false]);
        let recording: Vec<bool> = Phase::ALL
            .iter()
            .map(|p| p.shown().is_recording())
            .collect();
        assert_eq!(
            recording,
            [false, true, true, true, true, false, false, false]
        );
    }

    fn other(phase: Phase, holds_a_needed_device: bool) -> Other {
        Other {
            phase,
            holds_a_needed_device,
        }
    }

    #[test]
    fn a_start_beside_other_sessions() {
        let verdict =
            |concurrent, others: &[Other]| format!("{:?}", admit_start(concurrent, others));
        assert_eq!(verdict(false, &[]), "Go");
        assert_eq!(verdict(false, &[other(Processing, true)]), "Go");
        for busy in [Starting, Stopping] {
            assert_eq!(verdict(false, &[other(busy, false)]), "Wait", "{busy:?}");
        }
        for recording in [Capturing, Paused, Resuming] {
            assert_eq!(
                verdict(false, &[other(Stopping, true), other(recording, false)]),
                "Refuse(AlreadyRunning)",
                "{recording:?}"
            );
        }
        assert_eq!(verdict(true, &[other(Capturing, true)]), "Go");
        assert_eq!(verdict(true, &[other(Stopping, false)]), "Go");
        assert_eq!(verdict(true, &[other(Starting, true)]), "Go");
        assert_eq!(verdict(true, &[other(Stopping, true)]), "Wait");
    }

    #[test]
    fn tests_and_resets_want_the_inputs_to_themselves() {
        let verdict = |phases: &[Phase]| format!("{:?}", admit_exclusive(phases.iter().copied()));
        assert_eq!(verdict(&[Processing]), "Go");
        assert_eq!(verdict(&[Starting]), "Wait");
        assert_eq!(verdict(&[Stopping, Processing]), "Wait");
        assert_eq!(verdict(&[Paused]), "Refuse(AlreadyRunning)");
    }
}
