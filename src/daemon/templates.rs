//! Templates seen through the other parts: the template-in-use rule, and the engine's
//! looks at a template (a test run, the preflight checks, the pipeline it compiles to).
//!
//! The in-use rule: a template is deleted only while no capture records with it and no
//! pending or recording event names it. Both checks and the deletion happen as one step.
//! The engine's answer is read while starts from the API are held off (they hold the
//! daemon's template lock for reading until the engine answers), and the schedule's
//! answer is read in the same store transaction as the deletion, so neither a capture nor
//! an event can take the template between the check and the deletion. Scheduled starts
//! come from events, which that transaction sees.

use std::time::Duration;

use super::{Daemon, OperationError};
use crate::model::{Preflight, TestReport};
use crate::templates::TemplateError;

impl Daemon {
    /// Deletes the template `id_or_name` names, unless it is in use.
    pub async fn delete_template(&self, id_or_name: &str) -> Result<(), TemplateError> {
        let template = self.0.templates.get(id_or_name).await?;
        let _no_start_meanwhile = self.0.template_use.write().await;
        if self.0.engine.template_in_use(&template.id) {
            return Err(TemplateError::Recording(template.id));
        }
        self.0.templates.delete(&template.id).await
    }

    /// Runs the template `id` for `duration` with nothing kept (see `testTemplate`).
    pub async fn test_template(
        &self,
        id: &str,
        duration: Duration,
    ) -> Result<TestReport, OperationError> {
        let template = self.0.templates.get(id).await?;
        Ok(self.0.engine.test_template(template, duration).await?)
    }

    /// Whether the template `id` can record now, for `duration_ms` if given.
    pub async fn preflight_template(
        &self,
        id: &str,
        duration_ms: Option<i64>,
    ) -> Result<Preflight, OperationError> {
        let template = self.0.templates.get(id).await?;
        Ok(self.0.engine.preflight(&template, duration_ms))
    }

    /// The pipeline the template `id` compiles to with the devices present now.
    pub async fn template_pipeline(&self, id: &str) -> Result<String, OperationError> {
        let template = self.0.templates.get(id).await?;
        Ok(self.0.engine.pipeline_text(&template)?)
    }
}
