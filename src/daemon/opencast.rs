//! The Opencast capture agent's view of the box, and the link's operations that span
//! parts: a configuration change wakes the agent, a "sync now" asks it for a full calendar,
//! and the link's status joins the agent's figures.
//!
//! What the agent reports as its state is decided here from the parts: `error` while a
//! fault keeps the box from recording Opencast's events (the disk below its reserve, the
//! template that records them gone, a capture that failed), else `capturing` while any
//! capture runs, `uploading` while an Opencast ingest runs, `idle` otherwise.

use std::path::PathBuf;

use serde_json::{Map, Value};

use super::Daemon;
use crate::engine::Engine;
use crate::model::{CaptureState, JobState, NodeType};
use crate::opencast::config::AgentConfig;
use crate::opencast::link::LinkError;
use crate::opencast::runner::{Activity, Host, LinkStatus};
use crate::publish::Publishing;
use crate::settings::Settings;
use crate::templates::Templates;

/// The publisher id of Opencast ingests made in agent mode.
pub(crate) const AGENT_PUBLISHER: &str = "opencastAgent";
/// The most jobs looked at when counting Opencast ingests.
const JOBS_LOOKED_AT: i64 = 1_000;

/// The parts the agent reads.
pub(crate) struct AgentHost {
    pub engine: Engine,
    pub settings: Settings,
    pub templates: Templates,
    pub publishing: Publishing,
    pub media_dir: PathBuf,
}

impl AgentHost {
    /// What keeps the box from recording Opencast's events, if anything.
    async fn blocked(&self, config: &AgentConfig) -> Option<String> {
        match crate::sys::disk::usage(&self.media_dir) {
            Ok(usage) if usage.available <= self.settings.disk_reserve_bytes() => {
                return Some("no space is left for recordings".into());
            }
            Ok(_) => {}
            Err(e) => return Some(format!("the media folder cannot be read: {e}")),
        }
        if self.templates.get(&config.template_id).await.is_err() {
            return Some(format!(
                "the template {:?} that records Opencast's events does not exist",
                config.template_id
            ));
        }
        self.engine
            .statuses()
            .into_iter()
            .find(|s| s.state == CaptureState::Error)
            .map(|s| {
                format!(
                    "a capture failed: {}",
                    s.error.unwrap_or_else(|| "no reason given".into())
                )
            })
    }

    /// Opencast ingests queued and running.
    async fn ingests(&self) -> (u64, bool) {
        let mut queued = 0;
        let mut running = false;
        for state in [JobState::Queued, JobState::Running] {
            let jobs = self
                .publishing
                .jobs(None, Some(state), JOBS_LOOKED_AT)
                .await
                .unwrap_or_default();
            let ours = jobs
                .iter()
                .filter(|j| j.publisher_id == AGENT_PUBLISHER)
                .count() as u64;
            queued += ours;
            running |= state == JobState::Running && ours > 0;
        }
        (queued, running)
    }
}

impl Host for AgentHost {
    async fn activity(&self, config: &AgentConfig) -> Activity {
        let (ingest_queue, uploading) = self.ingests().await;
        Activity {
            blocked: self.blocked(config).await,
            capturing: self.engine.statuses().iter().any(|s| s.state.is_active()),
            uploading,
            ingest_queue,
        }
    }

    async fn inputs(&self, template_id: &str) -> Vec<String> {
        match self.templates.get(template_id).await {
            Ok(template) => template
                .graph
                .nodes
                .iter()
                .filter(|n| n.kind == NodeType::FileRecorder)
                .map(|n| n.id.clone())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    fn time_zone(&self) -> String {
        self.settings.timezone()
    }
}

impl Daemon {
    /// Changes the Opencast link's configuration; the agent follows at once.
    pub async fn update_opencast_config(
        &self,
        update: Map<String, Value>,
    ) -> Result<Value, LinkError> {
        let answer = self.0.opencast.update(update).await?;
        self.0.agent.wake();
        Ok(answer)
    }

    /// The link as the agent last saw it.
    pub fn opencast_status(&self) -> LinkStatus {
        self.0.agent.status()
    }

    /// Asks the agent for a full calendar fetch, its state and the outbox now; answers
    /// at once (the status shows what came of it).
    pub fn opencast_sync_now(&self) {
        self.0.agent.sync_now();
    }
}
