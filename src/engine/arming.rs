//! Keeping inputs hot: while nothing records, the pipeline of the template most likely to
//! be started next runs with its gate closed, so a start only opens the gate.
//!
//! Which template that is needs the store (the schedule's next template, else the
//! `defaultTemplate` setting, else the one used last, else `lecture`, else the first), so
//! an async task resolves it every couple of seconds and whenever the hints change, and
//! sends it to the engine thread. The thread builds, keeps or replaces the armed pipeline;
//! it never reads the store itself.

use std::sync::mpsc::Sender;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::actor::{Actor, Msg};
use super::pipelines::{Prepared, not_flowing};
use super::request::normalised;
use super::sources;
use super::{CaptureError, View};
use crate::media::session::PipelineEvent;
use crate::model::Template;
use crate::settings::Settings;
use crate::templates::Templates;

/// How often the template to arm is resolved again (and the armed pipeline checked).
const EVERY: Duration = Duration::from_secs(2);

/// What tells which template to keep armed, besides the settings and the templates.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct ArmHints {
    /// The template of the next scheduled event, armed before anything else.
    pub scheduled_template: Option<String>,
    /// The template of the latest capture, armed again after it.
    pub last_template: Option<String>,
}

/// The arming task: resolves the template to arm and sends it to the engine thread, while
/// no session is active.
pub(super) async fn run(
    mut hints: watch::Receiver<ArmHints>,
    templates: Templates,
    settings: Settings,
    view: Arc<RwLock<View>>,
    tx: Sender<Msg>,
) {
    loop {
        let busy = view
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .sessions
            .iter()
            .any(|s| s.is_active());
        if !busy {
            let wanted = hints.borrow_and_update().clone();
            let template = template_to_arm(&wanted, &templates, &settings).await;
            if tx.send(Msg::Arm { template }).is_err() {
                return;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            changed = hints.changed() => if changed.is_err() { return },
        }
    }
}

/// The template a request names, or the `defaultTemplate` setting.
pub(super) async fn named_or_default(
    templates: &Templates,
    settings: &Settings,
    wanted: Option<&str>,
) -> Result<Template, CaptureError> {
    let key = wanted
        .map(str::to_string)
        .or_else(|| settings.default_template())
        .ok_or(CaptureError::NoTemplate)?;
    Ok(templates.get(&key).await?)
}

/// What to keep armed: the scheduled one, the default template, else the one used last,
/// else `lecture`, else the first one.
async fn template_to_arm(
    hints: &ArmHints,
    templates: &Templates,
    settings: &Settings,
) -> Option<Template> {
    if let Some(id) = &hints.scheduled_template
        && let Ok(t) = named_or_default(templates, settings, Some(id)).await
    {
        return Some(t);
    }
    if let Ok(t) = named_or_default(templates, settings, None).await {
        return Some(t);
    }
    let all = templates.list().await.ok()?;
    let pick = |id: &str| all.iter().find(|t| t.id == id).cloned();
    hints
        .last_template
        .as_deref()
        .and_then(pick)
        .or_else(|| pick("lecture"))
        .or_else(|| all.first().cloned())
}

/// After a media reset, nothing is armed for this long: the caller rescans the devices
/// first.
const AFTER_RESET: Duration = Duration::from_secs(2);

impl Actor {
    /// Keeps `template`'s pipeline running while nothing records, so the next start only
    /// opens its gate. Rebuilt when the template or its devices change.
    pub(super) fn keep_armed(&mut self, template: Option<Template>) {
        let busy = self.test.is_some() || self.phases().any(|p| p.shown().is_active());
        if !self.deps.keep_inputs_hot
            || busy
            || self.arm_not_before.is_some_and(|t| Instant::now() < t)
        {
            return;
        }
        let Some(template) = template else {
            return;
        };
        if let Some(armed) = self.armed.take() {
            if self.still_fits(&armed, &template) {
                self.armed = Some(armed);
                return;
            }
            armed.release();
        }
        // Devices a preview holds would make the armed pipeline fail.
        self.close_previews();
        match self.prepare(&template) {
            Ok(prepared) => self.armed = Some(prepared),
            Err(e) => log::warn!("cannot keep template {} ready: {e}", template.id),
        }
    }

    /// Whether the armed pipeline is for `template` as it is now, with the sources it
    /// resolves to now.
    fn still_fits(&self, armed: &Prepared, template: &Template) -> bool {
        armed.template.id == template.id
            && normalised(template).ok().as_ref() == Some(&armed.template.graph)
            && sources::resolve(&armed.template.graph, &self.deps.devices) == armed.resolved
    }

    /// The armed pipeline, if it is for `template` and its sources are still the ones the
    /// template resolves to now; else it goes.
    pub(super) fn take_armed(&mut self, template: &Template) -> Option<Prepared> {
        let armed = self.armed.take()?;
        if self.still_fits(&armed, template) {
            Some(armed)
        } else {
            armed.release();
            None
        }
    }

    /// Nothing is armed for a moment (after a media reset).
    pub(super) fn hold_arming(&mut self) {
        self.arm_not_before = Some(Instant::now() + AFTER_RESET);
    }

    pub(super) fn armed_event(&mut self, event: PipelineEvent) {
        match event {
            PipelineEvent::Flowing => {
                if let Some(armed) = &self.armed {
                    log::info!("inputs of template {} are hot", armed.template.id);
                }
            }
            PipelineEvent::Fatal(reason) => {
                log::warn!("the armed pipeline failed ({reason}); it will be rebuilt");
                if let Some(armed) = self.armed.take() {
                    armed.release();
                }
            }
            _ => {}
        }
    }

    /// An armed pipeline that never got data is dropped; the next resolution builds it
    /// again.
    pub(super) fn expire_armed(&mut self, now: Instant) {
        let late = self
            .armed
            .as_ref()
            .is_some_and(|a| !a.is_flowing() && a.flowing_by <= now);
        if late && let Some(armed) = self.armed.take() {
            log::warn!(
                "cannot keep template {} ready: {}",
                armed.template.id,
                not_flowing()
            );
            armed.release();
        }
    }
}
