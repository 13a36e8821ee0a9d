//! Unit settings: the catalog of known keys, and their current values held in memory.
//!
//! Values are read on hot paths (every authenticated status poll checks `publicStatus`), so
//! they are served from memory; the store is written first and memory updated after the
//! commit, so memory never shows a value the database does not hold.

pub(crate) mod catalog;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;

use crate::model::Setting;
use crate::store::{self, Store, StoreError};
pub(crate) use catalog::SystemDefaults;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("unknown setting {0:?}")]
    NotFound(String),
    #[error("unknown setting {0:?}")]
    UnknownKey(String),
    #[error("invalid value for {key}: {reason}")]
    InvalidValue { key: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Cheap, cloneable handle to the settings.
#[derive(Clone)]
pub struct Settings {
    store: Store,
    system: Arc<SystemDefaults>,
    /// Values set explicitly (stored); keys absent here have their default.
    stored: Arc<RwLock<BTreeMap<String, Value>>>,
    /// Serialises writers so the store and memory change in the same order.
    write_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Settings {
    pub async fn load(store: Store, system: SystemDefaults) -> Result<Settings, SettingsError> {
        let mut stored = store.read(store::settings::all).await?;
        stored.retain(|key, value| match catalog::find(key) {
            Some(def) if def.coerce(value.clone()).is_ok() => true,
            Some(_) => {
                log::warn!("stored value of setting {key} is invalid; using the default");
                false
            }
            None => {
                log::warn!("ignoring unknown stored setting {key}");
                false
            }
        });
        Ok(Settings {
            store,
            system: Arc::new(system),
            stored: Arc::new(RwLock::new(stored)),
            write_lock: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    fn describe(&self, def: &catalog::Definition) -> Setting {
        let default = def.default_value(&self.system);
        let value = self
            .stored
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(def.key)
            .cloned()
            .unwrap_or_else(|| default.clone());
        Setting {
            key: def.key.to_string(),
            value,
            default,
            description: def.description.to_string(),
            schema: def.schema(),
        }
    }

    pub fn get(&self, key: &str) -> Result<Setting, SettingsError> {
        catalog::find(key)
            .map(|def| self.describe(def))
            .ok_or_else(|| SettingsError::NotFound(key.to_string()))
    }

    pub fn all(&self) -> Vec<Setting> {
        catalog::DEFINITIONS
            .iter()
            .map(|d| self.describe(d))
            .collect()
    }

    /// Updates one setting.
    pub async fn update(&self, key: &str, value: Value) -> Result<Setting, SettingsError> {
        if catalog::find(key).is_none() {
            return Err(SettingsError::NotFound(key.to_string()));
        }
        self.update_many(BTreeMap::from([(key.to_string(), value)]))
            .await?;
        self.get(key)
    }

    /// Updates several settings at once: all are validated first, then written in one
    /// transaction, so either every one changes or none does. Keys not named stay untouched.
    pub async fn update_many(
        &self,
        values: BTreeMap<String, Value>,
    ) -> Result<Vec<Setting>, SettingsError> {
        let mut checked = BTreeMap::new();
        for (key, value) in values {
            let def = catalog::find(&key).ok_or_else(|| SettingsError::UnknownKey(key.clone()))?;
            let value = def
                .coerce(value)
                .map_err(|reason| SettingsError::InvalidValue {
                    key: key.clone(),
                    reason,
                })?;
            checked.insert(key, value);
        }
        let _guard = self.write_lock.lock().await;
        let to_store = checked.clone();
        self.store
            .write(move |tx| {
                for (key, value) in &to_store {
                    store::settings::put(tx, key, value)?;
                }
                Ok::<_, SettingsError>(())
            })
            .await?;
        self.stored
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(checked);
        Ok(self.all())
    }

    #[expect(clippy::expect_used, reason = "invariant: key is in the catalog")]
    fn value(&self, key: &'static str) -> Value {
        self.get(key)
            .map(|s| s.value)
            .expect("key is in the catalog")
    }

    pub fn unit_name(&self) -> String {
        self.value(catalog::UNIT_NAME)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn timezone(&self) -> String {
        self.value(catalog::TIMEZONE)
            .as_str()
            .unwrap_or("UTC")
            .to_string()
    }

    pub fn concurrent_captures(&self) -> bool {
        self.value(catalog::CONCURRENT_CAPTURES)
            .as_bool()
            .unwrap_or(false)
    }

    /// Setting `defaultTemplate`, when set.
    pub fn default_template(&self) -> Option<String> {
        self.value(catalog::DEFAULT_TEMPLATE)
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    }

    pub fn disk_reserve_bytes(&self) -> u64 {
        self.value(catalog::DISK_RESERVE_MB)
            .as_u64()
            .unwrap_or(0)
            .saturating_mul(1024 * 1024)
    }

    pub fn public_status(&self) -> bool {
        self.value(catalog::PUBLIC_STATUS)
            .as_bool()
            .unwrap_or(false)
    }

    /// Setting `uploadLimitKbps`; 0 means no limit.
    pub fn upload_limit_kbps(&self) -> u64 {
        self.value(catalog::UPLOAD_LIMIT_KBPS).as_u64().unwrap_or(0)
    }

    pub fn pause_uploads_while_capturing(&self) -> bool {
        self.value(catalog::PAUSE_UPLOADS_WHILE_CAPTURING)
            .as_bool()
            .unwrap_or(false)
    }

    /// Setting `mediaRetentionDays`; 0 keeps media forever.
    pub fn media_retention_days(&self) -> i64 {
        self.value(catalog::MEDIA_RETENTION_DAYS)
            .as_i64()
            .unwrap_or(0)
    }

    /// Setting `calendarImportAllowedHosts`; empty when not set.
    pub fn calendar_import_allowed_hosts(&self) -> String {
        self.value(catalog::CALENDAR_IMPORT_ALLOWED_HOSTS)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn preview_interval_ms(&self) -> u64 {
        self.value(catalog::PREVIEW_INTERVAL_MS)
            .as_u64()
            .unwrap_or(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn settings(dir: &std::path::Path) -> Settings {
        let store = Store::open(&dir.join("s.db")).unwrap();
        Settings::load(
            store,
            SystemDefaults {
                hostname: "room-101".into(),
                timezone: "UTC".into(),
            },
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn update_many_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(dir.path()).await;
        let err = s
            .update_many(BTreeMap::from([
                ("unitName".to_string(), json!("Hall A")),
                ("previewIntervalMs".to_string(), json!(1)),
            ]))
            .await
            .unwrap_err();
        assert!(
            matches!(err, SettingsError::InvalidValue { ref key, .. } if key == "previewIntervalMs")
        );
        assert_eq!(s.unit_name(), "room-101");

        s.update_many(BTreeMap::from([("unitName".to_string(), json!("Hall A"))]))
            .await
            .unwrap();
        assert_eq!(s.unit_name(), "Hall A");
        assert_eq!(s.get("unitName").unwrap().default, json!("room-101"));
    }

    #[tokio::test]
    async fn values_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        settings(dir.path())
            .await
            .update("publicStatus", json!("true"))
            .await
            .unwrap();
        assert!(settings(dir.path()).await.public_status());
    }
}
