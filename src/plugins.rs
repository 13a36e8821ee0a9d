//! Plugins: what is installed, whether it is enabled, its settings and its services.
//!
//! The device-capture plugins (`v4l2`, `alsa`, `network`, `test`) live in `devices/`; this
//! module lists them, stores their settings (secrets masked on the way out, kept when sent
//! back masked) and dispatches service calls.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::devices::{
    DeviceSettings, Devices, Fault, NetworkSettings, SwitchSettings, TestSettings,
};
use crate::model::Device;
use crate::store::{self, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum PluginKind {
    DeviceCapture,
    Publisher,
}

/// A service a plugin offers through `invokePluginService`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PluginService {
    pub name: String,
    pub description: String,
}

/// An installed plugin.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Plugin {
    pub id: String,
    pub name: String,
    pub version: String,
    pub kind: PluginKind,
    pub enabled: bool,
    pub services: Vec<PluginService>,
}

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("no plugin {0:?}")]
    NotFound(String),
    #[error("plugin {plugin} has no service {service:?}")]
    UnknownService { plugin: String, service: String },
    #[error("invalid settings for {plugin}: {reason}")]
    InvalidSettings { plugin: String, reason: String },
    #[error("invalid arguments: {0}")]
    InvalidArgs(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Descriptor {
    id: &'static str,
    name: &'static str,
    services: &'static [(&'static str, &'static str)],
}

const REDETECT: (&str, &str) = (
    "redetect",
    "Scan for this plugin's devices now; returns them.",
);

const DEVICE_PLUGINS: &[Descriptor] = &[
    Descriptor {
        id: "v4l2",
        name: "Video4Linux capture devices (cameras, HDMI grabbers)",
        services: &[REDETECT],
    },
    Descriptor {
        id: "alsa",
        name: "ALSA audio capture devices",
        services: &[REDETECT],
    },
    Descriptor {
        id: "network",
        name: "Network cameras (RTSP, RTMP, SRT, HTTP)",
        services: &[(
            "redetect",
            "Probe every configured camera now; returns them.",
        )],
    },
    Descriptor {
        id: "test",
        name: "Simulated test devices",
        services: &[
            REDETECT,
            (
                "vanish",
                "Fault injection: `device` disappears as if unplugged.",
            ),
            (
                "loseSignal",
                "Fault injection: `device` stays but delivers no signal.",
            ),
            ("restore", "Undo the faults injected into `device`."),
        ],
    },
];

/// Loads the device plugins' stored settings; invalid stored values fall back to defaults.
pub(crate) async fn load_device_settings(store: &Store) -> Result<DeviceSettings, StoreError> {
    let stored = store.read(store::plugins::all).await?;
    let mut settings = DeviceSettings::default();
    let parse = |id: &str| stored.get(id).cloned();
    if let Some(v) = parse("v4l2") {
        settings.v4l2 = decode_or_default("v4l2", v);
    }
    if let Some(v) = parse("alsa") {
        settings.alsa = decode_or_default("alsa", v);
    }
    if let Some(v) = parse("test") {
        settings.test = decode_or_default::<TestSettings>("test", v)
            .validate()
            .unwrap_or_default();
    }
    if let Some(v) = parse("network") {
        settings.network = decode_or_default::<NetworkSettings>("network", v)
            .validate(&NetworkSettings::default())
            .unwrap_or_default();
    }
    Ok(settings)
}

fn decode_or_default<T: serde::de::DeserializeOwned + Default>(id: &str, value: Value) -> T {
    serde_json::from_value(value).unwrap_or_else(|e| {
        log::warn!("stored settings of plugin {id} are invalid ({e}); using defaults");
        T::default()
    })
}

/// Cheap, cloneable handle to the plugins.
#[derive(Clone)]
pub struct Plugins {
    store: Store,
    devices: Devices,
    /// Serialises settings updates so the store and the live settings agree.
    write_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl Plugins {
    pub fn new(store: Store, devices: Devices) -> Plugins {
        Plugins {
            store,
            devices,
            write_lock: Default::default(),
        }
    }

    fn descriptor(id: &str) -> Result<&'static Descriptor, PluginError> {
        DEVICE_PLUGINS
            .iter()
            .find(|d| d.id == id)
            .ok_or_else(|| PluginError::NotFound(id.to_string()))
    }

    pub fn list(&self) -> Vec<Plugin> {
        DEVICE_PLUGINS
            .iter()
            .map(|d| Plugin {
                id: d.id.into(),
                name: d.name.into(),
                version: env!("CARGO_PKG_VERSION").into(),
                kind: PluginKind::DeviceCapture,
                enabled: self.devices.plugin_enabled(d.id),
                services: d
                    .services
                    .iter()
                    .map(|(name, description)| PluginService {
                        name: (*name).into(),
                        description: (*description).into(),
                    })
                    .collect(),
            })
            .collect()
    }

    /// Whether any device-capture plugin is enabled.
    pub fn device_capture_available(&self) -> bool {
        DEVICE_PLUGINS
            .iter()
            .any(|d| self.devices.plugin_enabled(d.id))
    }

    /// A plugin's settings as shown to clients: secrets masked.
    pub fn settings(&self, id: &str) -> Result<Value, PluginError> {
        Self::descriptor(id)?;
        let s = self.devices.settings();
        Ok(match id {
            "v4l2" => json!(s.v4l2),
            "alsa" => json!(s.alsa),
            "test" => json!(s.test),
            _ => json!(s.network.masked()),
        })
    }

    /// Changes a plugin's settings: the given top-level keys replace the current ones, the
    /// result is validated as a whole, stored, and applied (devices are re-scanned).
    pub async fn update_settings(
        &self,
        id: &str,
        changes: BTreeMap<String, Value>,
    ) -> Result<Value, PluginError> {
        Self::descriptor(id)?;
        let _guard = self.write_lock.lock().await;
        let current = self.devices.settings();
        let invalid = |reason: String| PluginError::InvalidSettings {
            plugin: id.to_string(),
            reason,
        };
        let mut merged = match id {
            "network" => json!(current.network),
            _ => self.settings(id)?,
        };
        if let Value::Object(map) = &mut merged {
            map.extend(changes);
        }
        let mut next = current.clone();
        let stored = match id {
            "v4l2" | "alsa" => {
                let s: SwitchSettings =
                    serde_json::from_value(merged).map_err(|e| invalid(e.to_string()))?;
                let value = json!(s);
                if id == "v4l2" {
                    next.v4l2 = s;
                } else {
                    next.alsa = s;
                }
                value
            }
            "test" => {
                let s: TestSettings =
                    serde_json::from_value(merged).map_err(|e| invalid(e.to_string()))?;
                next.test = s.validate().map_err(invalid)?;
                json!(next.test)
            }
            _ => {
                let s: NetworkSettings =
                    serde_json::from_value(merged).map_err(|e| invalid(e.to_string()))?;
                next.network = s.validate(&current.network).map_err(invalid)?;
                json!(next.network)
            }
        };
        let plugin = id.to_string();
        self.store
            .write(move |tx| store::plugins::put(tx, &plugin, &stored))
            .await?;
        self.devices.set_settings(next).await;
        self.settings(id)
    }

    /// Runs a plugin service.
    pub async fn invoke(&self, id: &str, service: &str, args: Value) -> Result<Value, PluginError> {
        let descriptor = Self::descriptor(id)?;
        if !descriptor.services.iter().any(|(name, _)| *name == service) {
            return Err(PluginError::UnknownService {
                plugin: id.to_string(),
                service: service.to_string(),
            });
        }
        let of_plugin = |all: Vec<Device>| -> Value {
            json!(
                all.into_iter()
                    .filter(|d| d.plugin == id)
                    .collect::<Vec<_>>()
            )
        };
        match service {
            "redetect" => {
                if id == "network" {
                    self.devices.probe_network().await;
                }
                Ok(of_plugin(self.devices.rescan().await))
            }
            fault => {
                let device = args.get("device").and_then(Value::as_str).ok_or_else(|| {
                    PluginError::InvalidArgs("`device` (a test device id) is required".into())
                })?;
                let fault = match fault {
                    "vanish" => Some(Fault {
                        vanished: true,
                        no_signal: false,
                    }),
                    "loseSignal" => Some(Fault {
                        vanished: false,
                        no_signal: true,
                    }),
                    _ => None,
                };
                let all = self
                    .devices
                    .inject(device, fault)
                    .await
                    .map_err(PluginError::InvalidArgs)?;
                Ok(of_plugin(all))
            }
        }
    }
}
