//! A template test: the template's pipeline built cold, its gate opened for the asked
//! duration, what each node did reported, then the streams ended and the files thrown
//! away. Each step ends on a pipeline event or a deadline the engine thread wakes at; the
//! caller is answered at the end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::CaptureError;
use super::actor::{Actor, Msg, Reply};
use super::machine::{self, Admission};
use super::pipelines::{Prepared, not_flowing};
use super::start::{GATE_WITHIN, gate_closed};
use super::view::node_statuses;
use crate::media::Error as MediaError;
use crate::media::session::{PipelineEvent, Readout};
use crate::model::{NodeType, Template, TestReport};

/// How long the streams may take to end after the test.
const END_WITHIN: Duration = Duration::from_secs(10);

/// Where a test run stands.
enum Step {
    /// Waiting for data to reach the gate.
    Data,
    /// Waiting for the first frame through the gate after opening number `n`.
    Gate(u64),
    /// Recording for the asked duration.
    Running,
    /// Waiting for the streams' end, the report made.
    Ending(TestReport),
}

pub(super) struct TestRun {
    prepared: Prepared,
    duration: Duration,
    errors: Vec<String>,
    step: Step,
    /// When the current step gives up (or, running, ends).
    until: Instant,
    reply: Reply<TestReport>,
}

impl TestRun {
    pub(super) fn id(&self) -> &str {
        &self.prepared.id
    }

    pub(super) fn deadline(&self) -> Instant {
        self.until
    }

    /// node → device id, for the nodes the test's pipeline opens devices for.
    pub(super) fn devices(&self) -> &BTreeMap<String, String> {
        &self.prepared.resolved.devices
    }

    pub(super) fn readout(&self) -> Arc<Readout> {
        self.prepared.pipeline.readout().clone()
    }

    /// What each node did, the thumbnails, and what went wrong so far.
    fn report(&mut self) -> TestReport {
        let prepared = &self.prepared;
        let readout = prepared.pipeline.readout();
        let plan = readout.plan();
        let node_kinds: BTreeMap<String, NodeType> = prepared
            .template
            .graph
            .nodes
            .iter()
            .map(|n| (n.id.clone(), n.kind))
            .collect();
        let nodes = node_statuses(
            Some(readout),
            &node_kinds,
            &prepared.resolved.devices,
            &BTreeMap::new(),
        );
        let thumbnails = plan
            .snapshots
            .keys()
            .filter_map(|node| {
                let snap = readout.snapshot(node)?;
                Some((
                    node.clone(),
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &snap.jpeg),
                ))
            })
            .collect();
        for n in &nodes {
            if let Some(e) = &n.last_error {
                self.errors.push(format!("{}: {e}", n.node_id));
            }
            if n.buffers == 0
                && !matches!(n.kind, NodeType::FileRecorder | NodeType::Preview)
                && plan.stats.contains_key(&n.node_id)
            {
                self.errors
                    .push(format!("{}: delivered nothing", n.node_id));
            }
        }
        TestReport {
            template_id: prepared.template.id.clone(),
            duration: self.duration.as_millis() as i64,
            ok: false,
            nodes,
            thumbnails,
            errors: Vec::new(),
            encoders: plan.encoders.iter().map(|e| e.to_string()).collect(),
        }
    }
}

impl Actor {
    /// Runs a template with its gate open for `duration`, then throws the files away;
    /// returns the message back when it must wait (another test, a session starting or
    /// stopping).
    pub(super) fn test(
        &mut self,
        template: Template,
        duration: Duration,
        reply: Reply<TestReport>,
    ) -> Option<Msg> {
        let admission = match self.test {
            Some(_) => Admission::Wait,
            None => machine::admit_exclusive(self.phases()),
        };
        match admission {
            Admission::Wait => {
                return Some(Msg::Test {
                    template,
                    duration,
                    reply,
                });
            }
            Admission::Refuse(e) => {
                let _ = reply.send(Err(e));
                return None;
            }
            Admission::Go => {}
        }
        self.free_devices();
        let prepared = match self.prepare(&template) {
            Ok(p) => p,
            Err(e) => {
                let _ = reply.send(Err(e));
                return None;
            }
        };
        self.test = Some(TestRun {
            until: prepared.flowing_by,
            prepared,
            duration,
            errors: Vec::new(),
            step: Step::Data,
            reply,
        });
        None
    }

    pub(super) fn test_event(&mut self, event: PipelineEvent) {
        let Some(test) = self.test.as_mut() else {
            return;
        };
        match (&test.step, event) {
            (Step::Data, PipelineEvent::Flowing) => self.open_test_gate(),
            (Step::Gate(n), PipelineEvent::GateOpen { opening, .. }) if *n == opening => {
                test.step = Step::Running;
                test.until = Instant::now() + test.duration;
            }
            (Step::Ending(_), PipelineEvent::Ended) => self.finish_test(),
            // What a node's failure did shows in its figures.
            _ => {}
        }
    }

    fn open_test_gate(&mut self) {
        let Some(test) = self.test.as_mut() else {
            return;
        };
        let now = Instant::now();
        match test.prepared.pipeline.record(true) {
            Some(n) => {
                test.step = Step::Gate(n);
                test.until = now + GATE_WITHIN;
            }
            None => {
                test.errors.push(gate_closed().to_string());
                test.step = Step::Running;
                test.until = now + test.duration;
            }
        }
    }

    /// The current step of the test ran out of time.
    pub(super) fn step_test(&mut self, now: Instant) {
        let Some(test) = self.test.as_mut() else {
            return;
        };
        if test.until > now {
            return;
        }
        match test.step {
            Step::Data => {
                if let Some(test) = self.test.take() {
                    test.prepared.release();
                    let _ = test.reply.send(Err(CaptureError::Pipeline(not_flowing())));
                }
            }
            Step::Gate(_) => {
                test.errors.push(gate_closed().to_string());
                test.step = Step::Running;
                test.until = now + test.duration;
            }
            Step::Running => {
                let report = test.report();
                test.prepared.pipeline.end();
                test.step = Step::Ending(report);
                test.until = now + END_WITHIN;
            }
            Step::Ending(_) => {
                let late = MediaError::Timeout {
                    what: "the recording did not end",
                    after: END_WITHIN,
                };
                test.errors.push(late.to_string());
                self.finish_test();
            }
        }
    }

    fn finish_test(&mut self) {
        let Some(test) = self.test.take() else {
            return;
        };
        let TestRun {
            prepared,
            errors,
            step,
            reply,
            ..
        } = test;
        prepared.release();
        if let Step::Ending(mut report) = step {
            report.ok = errors.is_empty();
            report.errors = errors;
            let _ = reply.send(Ok(report));
        }
    }

    /// A shutdown ends the test at once; the caller hears that the engine is gone.
    pub(super) fn abort_test(&mut self) {
        if let Some(test) = self.test.take() {
            test.prepared.release();
        }
    }
}
