//! Capture devices: discovery through the device-capture plugins (`v4l2`, `alsa`,
//! `network`, `test`), stable ids, hotplug, signal state, and the registry everyone asks.
//!
//! The registry owns the current list. Full scans run at start, on hotplug (debounced) and
//! on request; between them a light refresh every few seconds updates signal and "in use"
//! without opening audio devices (an open at the wrong moment could make a capture's own
//! open fail). Every change is published on the event bus. A device that disappears stays
//! listed as absent, so a panel shows "camera missing" instead of silently nothing.

mod alsa;
pub mod network;
pub mod selector;
mod sysfs;
pub mod test_devices;
mod uevent;
mod v4l2;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::config::DeviceMode;
use crate::events::{Bus, Event};
use crate::model::{Device, DeviceType, Signal};
pub use crate::model::{Selector, SelectorError};
use crate::sys::tasks::Tasks;
pub use network::{NetworkCamera, NetworkSettings};
pub use test_devices::{Fault, TestDeviceConfig, TestEnabled, TestSettings};

/// Hotplug events come in bursts (one per node of a device); wait this long for the rest.
const HOTPLUG_DEBOUNCE: Duration = Duration::from_millis(300);
/// How often signal and "in use" are refreshed between scans.
const SIGNAL_REFRESH: Duration = Duration::from_secs(2);
/// How often network cameras are probed.
const NETWORK_PROBE: Duration = Duration::from_secs(20);

/// Settings of a plugin that only can be switched off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SwitchSettings {
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

impl Default for SwitchSettings {
    fn default() -> Self {
        SwitchSettings { enabled: true }
    }
}

/// What the device plugins are configured to do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceSettings {
    pub v4l2: SwitchSettings,
    pub alsa: SwitchSettings,
    pub test: TestSettings,
    pub network: NetworkSettings,
}

struct Inner {
    mode: DeviceMode,
    bus: Bus,
    video_class: PathBuf,
    devices: RwLock<BTreeMap<String, Device>>,
    settings: RwLock<DeviceSettings>,
    faults: Mutex<BTreeMap<String, Fault>>,
    reachability: Mutex<BTreeMap<String, Signal>>,
    /// Whether the last scan found real (V4L2/ALSA) capture hardware.
    hardware_found: Mutex<bool>,
    /// One scan at a time; a scan requested during another waits and then runs fresh.
    scan_lock: tokio::sync::Mutex<()>,
    hotplug: Arc<Notify>,
}

/// Cheap, cloneable handle to the device registry.
#[derive(Clone)]
pub struct Devices {
    inner: Arc<Inner>,
}

impl Devices {
    /// Scans once and starts the hotplug watch and the refresh loops.
    pub async fn start(
        mode: DeviceMode,
        bus: Bus,
        settings: DeviceSettings,
        tasks: &Tasks,
    ) -> Devices {
        let devices = Devices {
            inner: Arc::new(Inner {
                mode,
                bus,
                video_class: PathBuf::from("/sys/class/video4linux"),
                devices: RwLock::new(BTreeMap::new()),
                settings: RwLock::new(settings),
                faults: Mutex::new(BTreeMap::new()),
                reachability: Mutex::new(BTreeMap::new()),
                hardware_found: Mutex::new(false),
                scan_lock: tokio::sync::Mutex::new(()),
                hotplug: Arc::new(Notify::new()),
            }),
        };
        devices.probe_network().await;
        devices.rescan().await;
        if devices.hardware_plugins_enabled()
            && let Err(e) = uevent::watch(devices.inner.hotplug.clone())
        {
            log::warn!("no hotplug watch ({e}); devices are found at start and on redetect only");
        }
        tasks.spawn(devices.clone().hotplug_loop());
        tasks.spawn(devices.clone().refresh_loop());
        tasks.spawn(devices.clone().network_loop());
        devices
    }

    fn hardware_plugins_enabled(&self) -> bool {
        self.inner.mode == DeviceMode::Auto
    }

    /// Whether a device plugin lists devices now.
    pub fn plugin_enabled(&self, plugin: &str) -> bool {
        let settings = self.settings();
        let hardware = self.hardware_plugins_enabled();
        match plugin {
            "v4l2" => hardware && settings.v4l2.enabled,
            "alsa" => hardware && settings.alsa.enabled,
            "network" => true,
            "test" => match (self.inner.mode, settings.test.enabled) {
                (DeviceMode::Test, _) => true,
                (DeviceMode::Auto, TestEnabled::Always) => true,
                (DeviceMode::Auto, TestEnabled::Never) => false,
                (DeviceMode::Auto, TestEnabled::Auto) => !*lock(&self.inner.hardware_found),
            },
            _ => false,
        }
    }

    pub fn settings(&self) -> DeviceSettings {
        self.inner
            .settings
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the plugins' settings (already validated) and re-scans.
    pub async fn set_settings(&self, settings: DeviceSettings) {
        *self
            .inner
            .settings
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = settings;
        self.probe_network().await;
        self.rescan().await;
    }

    /// All known devices (present and absent), optionally of one type, sorted by id.
    pub fn list(&self, kind: Option<DeviceType>) -> Vec<Device> {
        self.inner
            .devices
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .filter(|d| kind.is_none_or(|k| d.kind == k))
            .cloned()
            .collect()
    }

    pub fn get(&self, id: &str) -> Option<Device> {
        self.inner
            .devices
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// The device a template's selector names now.
    pub fn resolve(&self, selector: &Selector, kind: DeviceType) -> Result<Device, SelectorError> {
        let all = self.list(None);
        selector::resolve(selector, kind, &all).cloned()
    }

    /// A full scan of every enabled plugin; returns the list afterwards.
    pub async fn rescan(&self) -> Vec<Device> {
        let _guard = self.inner.scan_lock.lock().await;
        let settings = self.settings();
        let scan_v4l2 = self.hardware_plugins_enabled() && settings.v4l2.enabled;
        let scan_alsa = self.hardware_plugins_enabled() && settings.alsa.enabled;
        let previous = self.list(None);
        let class = self.inner.video_class.clone();
        let hardware = tokio::task::spawn_blocking(move || {
            let mut found = Vec::new();
            if scan_v4l2 {
                found.extend(v4l2::scan(&class));
            }
            if scan_alsa {
                found.extend(alsa::scan(&previous));
            }
            found
        })
        .await
        .unwrap_or_else(|e| {
            log::error!("device scan failed: {e}");
            Vec::new()
        });
        *lock(&self.inner.hardware_found) = !hardware.is_empty();

        let mut scanned = hardware;
        if self.plugin_enabled("test") {
            scanned.extend(test_devices::devices(
                &settings.test,
                &lock(&self.inner.faults),
            ));
        }
        let reach = lock(&self.inner.reachability).clone();
        scanned.extend(network::devices(&settings.network, |id| {
            reach.get(id).copied().unwrap_or(Signal::Unknown)
        }));
        self.apply(scanned);
        self.list(None)
    }

    /// Merges a scan into the registry and publishes what changed.
    fn apply(&self, scanned: Vec<Device>) {
        let events = {
            let mut devices = self
                .inner
                .devices
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            merge(&mut devices, scanned)
        };
        self.publish(events);
    }

    fn publish(&self, events: Vec<Event>) {
        for event in events {
            log_event(&event);
            self.inner.bus.publish(event);
        }
    }

    /// Updates signal and "in use" of present devices without a full scan.
    async fn refresh(&self) {
        let _guard = self.inner.scan_lock.lock().await;
        let current = self.list(None);
        let faults = lock(&self.inner.faults).clone();
        let reach = lock(&self.inner.reachability).clone();
        let refreshed = tokio::task::spawn_blocking(move || {
            current
                .into_iter()
                .filter(|d| d.present)
                .map(|mut d| {
                    match d.plugin.as_str() {
                        "v4l2" => {
                            if let Some((signal, detected, in_use)) = v4l2::refresh(&d.path) {
                                (d.signal, d.detected, d.in_use) = (signal, detected, in_use);
                            }
                        }
                        "alsa" => d.in_use = alsa::in_use(&d.path),
                        "test" => {
                            let id = d.id.trim_start_matches("test:");
                            let no_signal = faults.get(id).is_some_and(|f| f.no_signal);
                            d.signal = if no_signal { Signal::None } else { Signal::Ok };
                        }
                        "network" => {
                            let id = d.id.trim_start_matches("network:");
                            let id = id.strip_suffix(":audio").unwrap_or(id);
                            d.signal = reach.get(id).copied().unwrap_or(Signal::Unknown);
                        }
                        _ => {}
                    }
                    d
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        let events = {
            let mut devices = self
                .inner
                .devices
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut events = Vec::new();
            for device in refreshed {
                if let Some(known) = devices.get_mut(&device.id)
                    && known.present
                    && *known != device
                {
                    *known = device.clone();
                    events.push(Event::DeviceChanged { device });
                }
            }
            events
        };
        self.publish(events);
    }

    async fn hotplug_loop(self) {
        loop {
            self.inner.hotplug.notified().await;
            tokio::time::sleep(HOTPLUG_DEBOUNCE).await;
            log::debug!("hotplug: re-scanning devices");
            self.rescan().await;
        }
    }

    async fn refresh_loop(self) {
        let mut ticker = tokio::time::interval(SIGNAL_REFRESH);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            self.refresh().await;
        }
    }

    async fn network_loop(self) {
        let mut ticker = tokio::time::interval(NETWORK_PROBE);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            self.probe_network().await;
        }
    }

    /// Probes every network camera (in parallel) and remembers the answers.
    pub async fn probe_network(&self) {
        let mut probes = tokio::task::JoinSet::new();
        for cam in self.settings().network.cameras {
            probes.spawn(async move {
                let signal = network::probe(&cam).await;
                (cam.id, signal)
            });
        }
        let mut results = BTreeMap::new();
        while let Some(done) = probes.join_next().await {
            if let Ok((id, signal)) = done {
                results.insert(id, signal);
            }
        }
        *lock(&self.inner.reachability) = results;
    }

    /// Fault injection on a `test` device: `vanish`, `lose_signal`, or `restore`.
    pub async fn inject(&self, device: &str, fault: Option<Fault>) -> Result<Vec<Device>, String> {
        let id = device.trim_start_matches("test:");
        if !self.settings().test.devices.iter().any(|d| d.id == id) {
            return Err(format!("no test device {device:?}"));
        }
        {
            let mut faults = lock(&self.inner.faults);
            match fault {
                Some(f) => {
                    let entry = faults.entry(id.to_string()).or_default();
                    entry.vanished |= f.vanished;
                    entry.no_signal |= f.no_signal;
                }
                None => {
                    faults.remove(id);
                }
            }
        }
        Ok(self.rescan().await)
    }

    /// The configuration of a `test` device, for building its source.
    pub fn test_device(&self, stable_id: &str) -> Option<TestDeviceConfig> {
        let id = stable_id.strip_prefix("test:")?;
        self.settings()
            .test
            .devices
            .into_iter()
            .find(|d| d.id == id)
    }

    /// The configuration of a network camera, with its real password, for building its source.
    pub fn network_camera(&self, stable_id: &str) -> Option<NetworkCamera> {
        let id = stable_id.strip_prefix("network:")?;
        let id = id.strip_suffix(":audio").unwrap_or(id);
        self.settings()
            .network
            .cameras
            .into_iter()
            .find(|c| c.id == id)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn log_event(event: &Event) {
    match event {
        Event::DeviceAdded { device } => {
            log::info!("device added: {} ({})", device.id, device.path)
        }
        Event::DeviceRemoved { device } => {
            log::warn!("device removed: {} ({})", device.id, device.path)
        }
        Event::DeviceChanged { device } => {
            log::debug!(
                "device changed: {} signal {:?} in use {}",
                device.id,
                device.signal,
                device.in_use
            )
        }
        _ => {}
    }
}

/// Folds a fresh scan into the known devices: new ones are added, changed ones replaced,
/// missing ones kept but marked absent. Returns the events to publish.
fn merge(known: &mut BTreeMap<String, Device>, scanned: Vec<Device>) -> Vec<Event> {
    let mut events = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for device in scanned {
        seen.insert(device.id.clone());
        match known.get(&device.id) {
            Some(old) if old.present && *old == device => {}
            Some(old) if old.present => events.push(Event::DeviceChanged {
                device: device.clone(),
            }),
            _ => events.push(Event::DeviceAdded {
                device: device.clone(),
            }),
        }
        known.insert(device.id.clone(), device);
    }
    for (id, device) in known.iter_mut() {
        if device.present && !seen.contains(id) {
            device.present = false;
            device.signal = Signal::None;
            device.in_use = false;
            events.push(Event::DeviceRemoved {
                device: device.clone(),
            });
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                Event::DeviceAdded { device } => format!("+{}", device.id),
                Event::DeviceRemoved { device } => format!("-{}", device.id),
                Event::DeviceChanged { device } => format!("~{}", device.id),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn merging_scans_adds_changes_and_keeps_the_missing_as_absent() {
        let base = test_devices::devices(&TestSettings::default(), &BTreeMap::new());
        let mut known = BTreeMap::new();
        assert_eq!(
            names(&merge(&mut known, base.clone())),
            ["+test:camera", "+test:slides", "+test:microphone"]
        );
        assert!(
            merge(&mut known, base.clone()).is_empty(),
            "an unchanged scan says nothing"
        );

        let mut changed = base.clone();
        changed[1].signal = Signal::None;
        changed.remove(0);
        assert_eq!(
            names(&merge(&mut known, changed.clone())),
            ["~test:slides", "-test:camera"]
        );
        assert!(!known["test:camera"].present);
        assert_eq!(known.len(), 3);

        assert_eq!(
            names(&merge(&mut known, base)),
            ["+test:camera", "~test:slides"]
        );
        assert!(known["test:camera"].present);
    }

    #[tokio::test]
    async fn test_mode_lists_the_simulated_devices_and_faults_show_up_as_events() {
        let bus = Bus::default();
        let mut events = bus.subscribe();
        let devices = Devices::start(
            DeviceMode::Test,
            bus,
            DeviceSettings::default(),
            &crate::sys::tasks::Tasks::default(),
        )
        .await;
        assert_eq!(devices.list(Some(DeviceType::Video)).len(), 2);
        assert_eq!(devices.list(Some(DeviceType::Audio)).len(), 1);
        assert!(devices.plugin_enabled("test") && !devices.plugin_enabled("v4l2"));
        for _ in 0..3 {
            assert!(matches!(
                events.recv().await.unwrap().event,
                Event::DeviceAdded { .. }
            ));
        }

        devices
            .inject(
                "test:camera",
                Some(Fault {
                    vanished: true,
                    no_signal: false,
                }),
            )
            .await
            .unwrap();
        let removed = events.recv().await.unwrap();
        assert!(
            matches!(&removed.event, Event::DeviceRemoved { device } if device.id == "test:camera")
        );
        assert!(!devices.get("test:camera").unwrap().present);
        assert!(
            devices
                .resolve(&"role:camera".parse().unwrap(), DeviceType::Video)
                .is_err()
        );

        devices.inject("test:camera", None).await.unwrap();
        assert!(matches!(
            events.recv().await.unwrap().event,
            Event::DeviceAdded { .. }
        ));
        assert_eq!(
            devices
                .resolve(&"role:camera".parse().unwrap(), DeviceType::Video)
                .unwrap()
                .id,
            "test:camera"
        );
        assert!(devices.inject("test:nothing", None).await.is_err());
    }
}
