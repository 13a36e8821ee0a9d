//! Plugins as clients see them: the device plugins and the publishers under one list,
//! each call routed to the part that owns the plugin.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Daemon, OperationError};
use crate::plugins::{Plugin, PluginError};
use crate::publish::job::Failure;
use crate::publish::publishers::{is_publisher, services};

impl Daemon {
    /// Every installed plugin: device plugins, then publishers.
    pub async fn all_plugins(&self) -> Result<Vec<Plugin>, OperationError> {
        let mut all = self.0.plugins.list();
        all.extend(self.0.publishing.plugins().await?);
        Ok(all)
    }

    pub async fn plugin(&self, id: &str) -> Result<Plugin, OperationError> {
        self.all_plugins()
            .await?
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| PluginError::NotFound(id.to_string()).into())
    }

    /// A plugin's settings, secrets masked.
    pub async fn plugin_settings(&self, id: &str) -> Result<Value, OperationError> {
        if is_publisher(id) {
            let shown = self.0.publishing.configuration(id).await?;
            return Ok(Value::Object(shown.config));
        }
        Ok(self.0.plugins.settings(id)?)
    }

    /// Replaces the named top-level keys of a plugin's settings; the result, secrets
    /// masked.
    pub async fn update_plugin_settings(
        &self,
        id: &str,
        settings: BTreeMap<String, Value>,
    ) -> Result<Value, OperationError> {
        if is_publisher(id) {
            let saved = self
                .0
                .publishing
                .update_configuration(id, settings.into_iter().collect())
                .await?;
            return Ok(Value::Object(saved.config));
        }
        Ok(self.0.plugins.update_settings(id, settings).await?)
    }

    /// Runs a plugin's service. A publisher's target that does not answer properly is
    /// the inner `Err`.
    pub async fn invoke_plugin_service(
        &self,
        id: &str,
        service: &str,
        args: Value,
    ) -> Result<Result<Value, Failure>, OperationError> {
        if is_publisher(id) {
            if !services(id).iter().any(|(name, _)| *name == service) {
                return Err(PluginError::UnknownService {
                    plugin: id.to_string(),
                    service: service.to_string(),
                }
                .into());
            }
            return Ok(self.0.publishing.service(id, service, args).await?);
        }
        Ok(Ok(self.0.plugins.invoke(id, service, args).await?))
    }
}
