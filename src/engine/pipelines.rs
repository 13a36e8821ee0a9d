//! Pipelines built for templates, ready to record: a package directory marked as staging,
//! the graph compiled with the devices present, the pipeline started with its gate closed.
//! Used for captures, the armed pipeline and template tests; released with its directory
//! when it is not used after all.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::CaptureError;
use super::actor::{Actor, Msg};
use super::request::normalised;
use super::sources::{self, Resolved};
use crate::graph::compile;
use crate::media::Error as MediaError;
use crate::media::session::{EventSink, SessionPipeline};
use crate::model::Template;
use crate::packages::{self, STAGING_MARK};

/// How long a cold pipeline may take until data reaches its gate.
pub(super) const FLOWING_WITHIN: Duration = Duration::from_secs(10);

/// A pipeline built for a template, ready to record.
pub(super) struct Prepared {
    pub id: String,
    pub dir: PathBuf,
    /// The template, its graph normalised.
    pub template: Template,
    pub resolved: Resolved,
    pub pipeline: SessionPipeline,
    /// When data must have reached the gate by.
    pub flowing_by: Instant,
}

impl Prepared {
    pub(super) fn is_flowing(&self) -> bool {
        self.pipeline.readout().is_flowing()
    }

    /// Stops the pipeline and removes its directory (nothing was recorded for keeps).
    pub(super) fn release(self) {
        let Prepared { dir, pipeline, .. } = self;
        drop(pipeline);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Why data did not reach the gate in time.
pub(super) fn not_flowing() -> MediaError {
    MediaError::Timeout {
        what: "no data reached the recorder",
        after: FLOWING_WITHIN,
    }
}

impl Actor {
    /// Where a pipeline's events go: to this thread, tagged with its owner's id.
    pub(super) fn event_sink(&self, owner: &str) -> EventSink {
        let (tx, owner) = (self.tx.clone(), owner.to_string());
        Arc::new(move |event| {
            let _ = tx.send(Msg::Pipeline {
                owner: owner.clone(),
                event,
            });
        })
    }

    /// Builds and starts the pipeline of `template` with its gate closed. Returns at once;
    /// the pipeline reports when data flows.
    pub(super) fn prepare(&self, template: &Template) -> Result<Prepared, CaptureError> {
        let graph = normalised(template)?;
        let id = packages::new_id();
        let dir = self.deps.packages.dir(&id);
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join(STAGING_MARK), b""))
            .map_err(|e| {
                CaptureError::Pipeline(MediaError::io(
                    format!("cannot create {}", dir.display()),
                    e,
                ))
            })?;
        let resolved = sources::resolve(&graph, &self.deps.devices);
        let plan = compile::compile(
            &graph,
            &resolved.specs,
            &self.deps.env,
            &dir,
            self.deps.settings.preview_interval_ms(),
        )
        .map_err(|e| CaptureError::Pipeline(e.into()))?;
        let pipeline = SessionPipeline::start(plan, &id, self.event_sink(&id)).map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            CaptureError::Pipeline(e)
        })?;
        let mut template = template.clone();
        template.graph = graph;
        Ok(Prepared {
            id,
            dir,
            template,
            resolved,
            pipeline,
            flowing_by: Instant::now() + FLOWING_WITHIN,
        })
    }
}
