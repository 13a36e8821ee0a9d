//! Device previews: which pipeline shows a device now (a session's, the armed one, the test
//! run's, or a preview pipeline of its own, started for it and stopped when nobody asked for
//! a while), and waiting for the device's picture or levels on behalf of a request.
//!
//! The engine thread answers a preview request with the readout of the pipeline that holds
//! the device; a preview pipeline it starts is handed over once data flows. That pipeline
//! may be shut down while the request waits for its first picture — the hot pipeline is
//! rebuilt after a capture, a capture takes the device over — and a stopped pipeline never
//! delivers. The request then follows the device to the pipeline that holds it next instead
//! of waiting out its time on the old one and answering that the device delivered nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::CaptureError;
use super::actor::{Actor, Reply};
use super::pipelines::{FLOWING_WITHIN, not_flowing};
use super::sources;
use crate::graph::compile;
use crate::media::session::{PipelineEvent, Readout, SessionPipeline};
use crate::model::{DeviceType, Graph, Node, NodeType};

/// How long a request waits for the first value of one pipeline.
const FIRST_VALUE: Duration = Duration::from_secs(3);
/// How many pipelines a request follows its device through before it asks the client to
/// come back (`preview.restarting`): the engine is then replacing them faster than they
/// start.
const MAX_PIPELINES: usize = 3;
const POLL: Duration = Duration::from_millis(50);
/// Idle previews are stopped after this long without being asked for.
const PREVIEW_IDLE: Duration = Duration::from_secs(30);
/// The preview pipeline's node, and the prefix of its owner's name.
const NODE: &str = "device";
const OWNER: &str = "preview-";

/// Where a device's picture or levels are read: a pipeline's readout and the device's node.
type Located = (Arc<Readout>, String);

/// A pipeline started to preview one device.
pub(super) struct Preview {
    pipeline: SessionPipeline,
    last_used: Instant,
    flowing_by: Instant,
    /// Requests waiting for its data to flow.
    waiting: Vec<Reply<Located>>,
}

impl Preview {
    /// When the waiting requests give up.
    pub(super) fn deadline(&self) -> Option<Instant> {
        (!self.waiting.is_empty()).then_some(self.flowing_by)
    }

    fn located(&self) -> Located {
        (self.pipeline.readout().clone(), NODE.into())
    }

    /// Answers the waiting requests with the pipeline as it is (its readers see whether it
    /// flows or was shut down).
    fn hand_over(&mut self) {
        for reply in self.waiting.drain(..) {
            let _ = reply.send(Ok((self.pipeline.readout().clone(), NODE.into())));
        }
    }
}

impl Actor {
    /// Answers with the pipeline that holds the device now, starting a preview for it if
    /// none does.
    pub(super) fn preview(&mut self, device_id: &str, video: bool, reply: Reply<Located>) {
        match self.locate(device_id, video) {
            Ok(Some(located)) => {
                let _ = reply.send(Ok(located));
            }
            Ok(None) => match self.previews.get_mut(device_id) {
                Some(preview) => preview.waiting.push(reply),
                None => {
                    let _ = reply.send(Err(CaptureError::NoPreview("cannot open".into())));
                }
            },
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// The pipeline that shows the device now; `None` when its preview does not flow yet.
    fn locate(&mut self, device_id: &str, video: bool) -> Result<Option<Located>, CaptureError> {
        let device = self
            .deps
            .devices
            .get(device_id)
            .ok_or_else(|| CaptureError::NoPreview(format!("no device {device_id:?}")))?;
        if (device.kind == DeviceType::Video) != video {
            return Err(CaptureError::NoPreview(format!(
                "{device_id} is not a {} device",
                if video { "video" } else { "audio" }
            )));
        }
        let node_of = |devices: &std::collections::BTreeMap<String, String>| {
            devices
                .iter()
                .find(|(_, d)| **d == device.id)
                .map(|(node, _)| node.clone())
        };
        // A device a pipeline already uses is previewed from that pipeline.
        for session in self.sessions.values() {
            if let Some(readout) = &session.view.pipeline
                && let Some(node) = node_of(&session.view.node_devices)
            {
                return Ok(Some((readout.clone(), node)));
            }
        }
        if let Some(armed) = &self.armed
            && let Some(node) = node_of(&armed.resolved.devices)
        {
            return Ok(Some((armed.pipeline.readout().clone(), node)));
        }
        if let Some(test) = &self.test
            && let Some(node) = node_of(test.devices())
        {
            return Ok(Some((test.readout(), node)));
        }
        if let Some(preview) = self.previews.get_mut(device_id) {
            preview.last_used = Instant::now();
            let flowing = preview.pipeline.readout().is_flowing();
            return Ok(flowing.then(|| preview.located()));
        }
        if !device.present {
            return Err(CaptureError::NoPreview(format!("{device_id} is absent")));
        }
        self.start_preview(device_id, video)?;
        Ok(None)
    }

    fn start_preview(&mut self, device_id: &str, video: bool) -> Result<(), CaptureError> {
        let graph = Graph {
            id: String::new(),
            name: String::new(),
            root: String::new(),
            nodes: vec![Node {
                id: NODE.into(),
                kind: if video {
                    NodeType::VideoDevice
                } else {
                    NodeType::AudioDevice
                },
                options: serde_json::json!({"device": device_id, "width": 1280, "height": 720, "framerate": 30})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                parents: Vec::new(),
                children: Vec::new(),
                services: Vec::new(),
            }],
        };
        let resolved = sources::resolve(&graph, &self.deps.devices);
        let spec = resolved
            .specs
            .get(NODE)
            .cloned()
            .ok_or_else(|| CaptureError::NoPreview("cannot open".into()))?;
        let plan = compile::device_preview(
            video,
            &spec,
            &self.deps.env,
            self.deps.settings.preview_interval_ms(),
        )
        .map_err(|e| CaptureError::NoPreview(e.to_string()))?;
        let owner = format!("{OWNER}{device_id}");
        let pipeline = SessionPipeline::start(plan, &owner, self.event_sink(&owner))
            .map_err(|e| CaptureError::NoPreview(e.to_string()))?;
        let now = Instant::now();
        self.previews.insert(
            device_id.to_string(),
            Preview {
                pipeline,
                last_used: now,
                flowing_by: now + FLOWING_WITHIN,
                waiting: Vec::new(),
            },
        );
        Ok(())
    }

    /// An event of a preview pipeline: once data flows the waiting requests get it; if it
    /// fails first, they hear why.
    pub(super) fn preview_event(&mut self, owner: &str, event: PipelineEvent) {
        let Some(device) = owner.strip_prefix(OWNER) else {
            return;
        };
        match event {
            PipelineEvent::Flowing => {
                if let Some(preview) = self.previews.get_mut(device) {
                    preview.hand_over();
                }
            }
            PipelineEvent::Fatal(e) => {
                let failed_early = self
                    .previews
                    .get(device)
                    .is_some_and(|p| !p.pipeline.readout().is_flowing());
                if failed_early && let Some(mut preview) = self.previews.remove(device) {
                    for reply in preview.waiting.drain(..) {
                        let _ = reply.send(Err(CaptureError::NoPreview(e.to_string())));
                    }
                }
            }
            _ => {}
        }
    }

    /// Previews nobody asked for lately stop; requests for one that never flowed hear why.
    pub(super) fn expire_previews(&mut self, now: Instant) {
        let over: Vec<String> = self
            .previews
            .iter()
            .filter(|(_, p)| {
                now.saturating_duration_since(p.last_used) > PREVIEW_IDLE
                    || p.deadline().is_some_and(|d| d <= now)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in over {
            if let Some(mut preview) = self.previews.remove(&id) {
                for reply in preview.waiting.drain(..) {
                    let _ = reply.send(Err(CaptureError::NoPreview(not_flowing().to_string())));
                }
            }
        }
    }

    /// Stops every preview (a pipeline is about to take the devices). Requests still
    /// waiting get the stopped pipeline, and follow the device from there.
    /// Releases the armed pipeline and closes the previews, so the devices they hold are free
    /// for another pipeline.
    pub(super) fn free_devices(&mut self) {
        if let Some(armed) = self.armed.take() {
            armed.release();
        }
        self.close_previews();
    }

    pub(super) fn close_previews(&mut self) {
        for (_, mut preview) in std::mem::take(&mut self.previews) {
            preview.pipeline.halt();
            preview.hand_over();
        }
    }
}

/// What became of the wait on one pipeline.
enum Waited<T> {
    Value(T),
    /// The pipeline ran for the whole wait and delivered nothing.
    Nothing,
    /// The pipeline was shut down before it delivered.
    Replaced,
}

/// The first value `get` reads from the pipeline `locate` names for the device, following
/// the device when its pipeline is replaced.
pub(super) async fn first_value<T, L>(
    mut locate: impl FnMut() -> L,
    get: impl Fn(&Readout, &str) -> Option<T>,
) -> Result<T, CaptureError>
where
    L: Future<Output = Result<Located, CaptureError>>,
{
    for _ in 0..MAX_PIPELINES {
        let (pipeline, node) = locate().await?;
        match wait(&pipeline, &node, &get).await {
            Waited::Value(v) => return Ok(v),
            Waited::Nothing => {
                return Err(CaptureError::NoPreview(format!(
                    "the device delivered nothing within {} s",
                    FIRST_VALUE.as_secs()
                )));
            }
            Waited::Replaced => {}
        }
    }
    Err(CaptureError::PreviewRestarting)
}

async fn wait<T>(
    pipeline: &Readout,
    node: &str,
    get: &impl Fn(&Readout, &str) -> Option<T>,
) -> Waited<T> {
    let deadline = Instant::now() + FIRST_VALUE;
    loop {
        if let Some(v) = get(pipeline, node) {
            return Waited::Value(v);
        }
        if pipeline.is_shut_down() {
            return Waited::Replaced;
        }
        if Instant::now() > deadline {
            return Waited::Nothing;
        }
        tokio::time::sleep(POLL).await;
    }
}
