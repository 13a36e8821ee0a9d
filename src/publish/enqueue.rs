//! Queuing packages for publishing: which publishers a package goes to (the request's,
//! its template's or the defaults), overrides held to the caller's role, and one job per
//! package and publisher so asking again never uploads twice. Nothing here uploads.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::publishers::Publisher;
use super::{PublishError, Publishing, config, new_job_id, overrides, publishers};
use crate::model::{
    CaptureRequest, MediaPackage, PackageState, PublishJob, PublishPlatformConfiguration,
    PublishRequest,
};
use crate::store::publish::Enqueued;
use crate::store::{self, StoreError};

impl Publishing {
    /// Queues a package for the requested publishers (or its defaults). Idempotent: a
    /// package already queued, running or published for a publisher keeps that job.
    /// `configs` from a caller below Administrator are held to the same rules as a
    /// connection test of theirs.
    pub async fn publish(
        &self,
        package_id: &str,
        request: PublishRequest,
        by_administrator: bool,
    ) -> Result<Vec<PublishJob>, PublishError> {
        let package = self.inner.packages.get(package_id).await?;
        if !matches!(
            package.state,
            PackageState::Complete | PackageState::Partial
        ) {
            return Err(PublishError::PackageNotReady {
                id: package.id.clone(),
                state: format!("{:?}", package.state).to_lowercase(),
            });
        }
        let mut planned = Vec::new();
        if request.configs.is_empty() {
            // Administrators' layers, and overrides already held to the package's rules.
            for target in self.default_targets(&package).await? {
                let config = self
                    .merged_valid(&target.publisher_id, &target.config)
                    .await?;
                planned.push((target.publisher_id, config));
            }
        } else {
            for target in &request.configs {
                let config = self
                    .laid_over_stored(&target.publisher_id, &target.config, by_administrator)
                    .await?;
                Publisher::parse(&target.publisher_id, &Value::Object(config.clone())).map_err(
                    |reason| PublishError::InvalidConfig {
                        publisher: target.publisher_id.clone(),
                        reason,
                    },
                )?;
                planned.push((target.publisher_id.clone(), config));
            }
        }
        if planned.is_empty() {
            return Err(PublishError::NothingToPublish(package.id));
        }
        self.enqueue(&package.id, planned).await
    }

    pub(super) async fn enqueue(
        &self,
        package_id: &str,
        planned: Vec<(String, Map<String, Value>)>,
    ) -> Result<Vec<PublishJob>, PublishError> {
        let package_id = package_id.to_string();
        let results = self
            .inner
            .store
            .write(move |tx| {
                let mut out = Vec::new();
                for (publisher, config) in &planned {
                    let text = Value::Object(config.clone()).to_string();
                    out.push(store::publish::enqueue(
                        tx,
                        &new_job_id(),
                        &package_id,
                        publisher,
                        &text,
                    )?);
                }
                store::publish::mark_decided(tx, &package_id)?;
                Ok::<_, StoreError>(out)
            })
            .await?;
        self.inner.wake.notify_one();
        Ok(results
            .into_iter()
            .map(|e| match e {
                Enqueued::Created(job) | Enqueued::Requeued(job) | Enqueued::Existing(job) => {
                    self.with_live(job)
                }
            })
            .collect())
    }

    /// A template's `publishing` list (empty when the template is gone).
    pub(super) async fn template_targets(
        &self,
        template_id: &str,
    ) -> Vec<PublishPlatformConfiguration> {
        match self.inner.templates.get(template_id).await {
            Ok(t) => t
                .publishing
                .iter()
                .filter_map(|v| serde_json::from_value(v.clone()).ok())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The configuration of `publisher` a recording with these template targets is
    /// published with before any override: stored ← template.
    pub(super) fn base_config(
        stored: &BTreeMap<String, Value>,
        publisher: &str,
        from_template: &[PublishPlatformConfiguration],
    ) -> Map<String, Value> {
        let stored_one = stored
            .get(publisher)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        match from_template.iter().find(|t| t.publisher_id == publisher) {
            Some(t) => config::merge(publisher, &stored_one, &t.config),
            None => stored_one,
        }
    }

    /// Checks a capture request's `publishingOverrides` before the capture starts: their
    /// shape and values for everyone (422 `publish.invalid_overrides`), and for a caller below
    /// Administrator that they change only harmless keys of the configuration the
    /// recording would be published with (403 `publish.override_forbidden` /
    /// `publish.outside_configured`).
    pub async fn check_overrides(
        &self,
        request: &CaptureRequest,
        by_administrator: bool,
    ) -> Result<(), PublishError> {
        let overrides = overrides::parse(request.publishing_overrides.as_ref())?;
        if overrides.is_empty() {
            return Ok(());
        }
        let from_template = match request
            .template_id
            .clone()
            .or_else(|| self.inner.settings.default_template())
        {
            Some(id) => self.template_targets(&id).await,
            None => Vec::new(),
        };
        let stored = self.inner.store.read(store::plugins::all).await?;
        for (publisher, over) in &overrides {
            let base = Self::base_config(&stored, publisher, &from_template);
            if !by_administrator {
                overrides::check(publisher, &base, over)?;
            }
            // A value the publisher would refuse is named now, not when the job fails.
            let merged = config::merge(publisher, &base, over);
            if Publisher::parse(publisher, &Value::Object(base)).is_ok()
                && let Err(reason) = Publisher::parse(publisher, &Value::Object(merged))
            {
                return Err(PublishError::InvalidOverrides(format!(
                    "{publisher}: {reason}"
                )));
            }
        }
        Ok(())
    }

    /// The publishers a package goes to when nobody names them: its template's list,
    /// else every publisher with a stored configuration that is not switched off. The
    /// capture request's `publishingOverrides` are laid over either; unless an
    /// Administrator gave them, only their harmless keys (checked again here, so overrides
    /// stored before the rules or by any other way cannot redirect an upload).
    pub(super) async fn default_targets(
        &self,
        package: &MediaPackage,
    ) -> Result<Vec<PublishPlatformConfiguration>, PublishError> {
        let from_template = self.template_targets(&package.template_id).await;
        let stored = self.inner.store.read(store::plugins::all).await?;
        let mut targets = if from_template.is_empty() {
            publishers::IDS
                .iter()
                .filter_map(|id| {
                    let stored = stored.get(*id)?.as_object()?;
                    (!stored.is_empty() && !config::disabled(stored)).then(|| {
                        PublishPlatformConfiguration {
                            publisher_id: (*id).to_string(),
                            ..Default::default()
                        }
                    })
                })
                .collect()
        } else {
            from_template.clone()
        };
        let trusted = package.publishing_overrides_by_administrator;
        let overrides = overrides::read(package.request.publishing_overrides.as_ref());
        for target in &mut targets {
            let publisher = target.publisher_id.clone();
            let Some(over) = overrides.get(&publisher) else {
                continue;
            };
            let over = if trusted {
                over.clone()
            } else {
                let base = Self::base_config(&stored, &publisher, &from_template);
                let (kept, dropped) = overrides::harmless_part(&publisher, &base, over);
                if !dropped.is_empty() {
                    log::warn!(
                        "media package {}: publishingOverrides for {publisher} not applied \
                         (only an Administrator may set them): {}",
                        package.id,
                        dropped.join(", ")
                    );
                }
                kept
            };
            target.config = config::merge(&publisher, &target.config, &over);
        }
        Ok(targets)
    }
}
