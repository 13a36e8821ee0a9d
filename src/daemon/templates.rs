//! The template-in-use rule: a template is deleted only while no capture records with it
//! and no pending or recording event names it.
//!
//! Both checks and the deletion happen as one step. The engine's answer is read while
//! starts from the API are held off (they hold the daemon's template lock for reading
//! until the engine answers), and the schedule's answer is read in the same store
//! transaction as the deletion, so neither a capture nor an event can take the template
//! between the check and the deletion. Scheduled starts come from events, which that
//! transaction sees.

use super::Daemon;
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
}
