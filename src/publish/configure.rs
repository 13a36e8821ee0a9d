//! Publisher configurations: reading and updating the stored settings of each publisher
//! (secrets write-only), connection tests and plugin services. Nothing here queues or
//! runs a job.

use serde_json::{Map, Value};

use super::job::Failure;
use super::publishers::Publisher;
use super::{FailureCode, PublishError, Publishing, TEST_TIMEOUT, config, overrides, publishers};
use crate::model::{PublishPlatformConfiguration, PublishTestResult};
use crate::store::{self, StoreError};
use crate::sys::time::now_ms;

impl Publishing {
    pub(super) async fn stored_config(
        &self,
        publisher: &str,
    ) -> Result<Map<String, Value>, PublishError> {
        let all = self.inner.store.read(store::plugins::all).await?;
        Ok(all
            .get(publisher)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default())
    }

    pub(super) fn known(publisher: &str) -> Result<(), PublishError> {
        if publishers::is_publisher(publisher) {
            Ok(())
        } else {
            Err(PublishError::UnknownPublisher(publisher.to_string()))
        }
    }

    /// Every publisher with its stored configuration, secrets masked.
    pub async fn configurations(&self) -> Result<Vec<PublishPlatformConfiguration>, PublishError> {
        let all = self.inner.store.read(store::plugins::all).await?;
        Ok(publishers::IDS
            .iter()
            .map(|id| {
                let stored = all
                    .get(*id)
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                PublishPlatformConfiguration {
                    publisher_id: (*id).to_string(),
                    config: config::masked(id, &stored),
                    ingests: None,
                }
            })
            .collect())
    }

    pub async fn configuration(
        &self,
        publisher: &str,
    ) -> Result<PublishPlatformConfiguration, PublishError> {
        Self::known(publisher)?;
        let stored = self.stored_config(publisher).await?;
        Ok(PublishPlatformConfiguration {
            publisher_id: publisher.to_string(),
            config: config::masked(publisher, &stored),
            ingests: None,
        })
    }

    /// Validates a configuration laid over the stored one (secrets not sent are kept).
    pub(super) async fn merged_valid(
        &self,
        publisher: &str,
        changes: &Map<String, Value>,
    ) -> Result<Map<String, Value>, PublishError> {
        Self::known(publisher)?;
        let stored = self.stored_config(publisher).await?;
        let merged = config::merge(publisher, &stored, changes);
        Publisher::parse(publisher, &Value::Object(merged.clone())).map_err(|reason| {
            PublishError::InvalidConfig {
                publisher: publisher.to_string(),
                reason,
            }
        })?;
        Ok(merged)
    }

    /// Saves publisher configurations, all or nothing.
    pub async fn update_configurations(
        &self,
        configs: Vec<PublishPlatformConfiguration>,
    ) -> Result<Vec<PublishPlatformConfiguration>, PublishError> {
        let _guard = self.inner.config_lock.lock().await;
        let mut validated = Vec::new();
        for c in &configs {
            validated.push((
                c.publisher_id.clone(),
                self.merged_valid(&c.publisher_id, &c.config).await?,
            ));
        }
        let saved = validated.clone();
        self.inner
            .store
            .write(move |tx| {
                for (id, config) in &saved {
                    store::plugins::put(tx, id, &Value::Object(config.clone()))?;
                }
                Ok::<_, StoreError>(())
            })
            .await?;
        Ok(validated
            .into_iter()
            .map(|(id, config)| PublishPlatformConfiguration {
                config: config::masked(&id, &config),
                publisher_id: id,
                ingests: None,
            })
            .collect())
    }

    pub async fn update_configuration(
        &self,
        publisher: &str,
        config: Map<String, Value>,
    ) -> Result<PublishPlatformConfiguration, PublishError> {
        let mut saved = self
            .update_configurations(vec![PublishPlatformConfiguration {
                publisher_id: publisher.to_string(),
                config,
                ingests: None,
            }])
            .await?;
        Ok(saved.remove(0))
    }

    /// The publishers as plugins; enabled means configured and not switched off.
    pub async fn plugins(&self) -> Result<Vec<crate::plugins::Plugin>, PublishError> {
        let all = self.inner.store.read(store::plugins::all).await?;
        Ok(publishers::IDS
            .iter()
            .map(|id| {
                let stored = all.get(*id).and_then(Value::as_object);
                crate::plugins::Plugin {
                    id: (*id).to_string(),
                    name: publishers::name(id).to_string(),
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    kind: crate::plugins::PluginKind::Publisher,
                    enabled: stored.is_some_and(|s| !s.is_empty() && !config::disabled(s)),
                    services: publishers::services(id)
                        .iter()
                        .map(|(name, description)| crate::plugins::PluginService {
                            name: (*name).to_string(),
                            description: (*description).to_string(),
                        })
                        .collect(),
                }
            })
            .collect())
    }

    // ----- tests and services -----

    /// Lays a configuration a client sent over the stored one: as it is for an
    /// Administrator; for anyone else only harmless keys keep the stored secrets
    /// (`overrides::lay_over_for_lower_role`).
    pub(super) async fn laid_over_stored(
        &self,
        publisher: &str,
        changes: &Map<String, Value>,
        by_administrator: bool,
    ) -> Result<Map<String, Value>, PublishError> {
        Self::known(publisher)?;
        let stored = self.stored_config(publisher).await?;
        if by_administrator {
            Ok(config::merge(publisher, &stored, changes))
        } else {
            overrides::lay_over_for_lower_role(publisher, &stored, changes)
        }
    }

    /// Checks a configuration (laid over the stored one) without uploading media, and
    /// records the result. A failed check is an answer, not an error; a configuration a
    /// caller below Administrator may not use is an error.
    pub async fn test(
        &self,
        request: PublishPlatformConfiguration,
        by_administrator: bool,
    ) -> Result<PublishTestResult, PublishError> {
        let publisher = request.publisher_id.clone();
        let merged = self
            .laid_over_stored(&publisher, &request.config, by_administrator)
            .await?;
        let outcome = match Publisher::parse(&publisher, &Value::Object(merged)) {
            Err(reason) => Err(Failure::invalid_config(reason)),
            Ok(p) => match tokio::time::timeout(TEST_TIMEOUT, p.test(&self.inner.http)).await {
                Ok(result) => result,
                Err(_) => Err(Failure::unreachable(format!(
                    "no answer within {} s",
                    TEST_TIMEOUT.as_secs()
                ))),
            },
        };
        let result = match outcome {
            Ok(message) => PublishTestResult {
                publisher_id: publisher,
                ok: true,
                code: FailureCode::Ok.as_str().into(),
                message,
                tested_at: now_ms(),
            },
            Err(f) => PublishTestResult {
                publisher_id: publisher,
                ok: false,
                code: f.code.as_str().into(),
                message: f.message,
                tested_at: now_ms(),
            },
        };
        let stored = result.clone();
        self.inner
            .store
            .write(move |tx| store::publish::put_test(tx, &stored))
            .await?;
        Ok(result)
    }

    pub async fn tested(&self) -> Result<Vec<PublishTestResult>, PublishError> {
        Ok(self.inner.store.read(store::publish::tests).await?)
    }

    /// Runs a publisher's plugin service with its stored configuration.
    pub async fn service(
        &self,
        publisher: &str,
        name: &str,
        args: Value,
    ) -> Result<Result<Value, Failure>, PublishError> {
        let config = self.merged_valid(publisher, &Map::new()).await?;
        let p = Publisher::parse(publisher, &Value::Object(config)).map_err(|reason| {
            PublishError::InvalidConfig {
                publisher: publisher.to_string(),
                reason,
            }
        })?;
        Ok(
            match tokio::time::timeout(TEST_TIMEOUT, p.service(&self.inner.http, name, &args)).await
            {
                Ok(result) => result,
                Err(_) => Err(Failure::unreachable("no answer in time")),
            },
        )
    }
}
