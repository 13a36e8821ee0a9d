//! Resolving a graph's device and network nodes to concrete sources for the compiler:
//! which device a selector names now, and how to open it.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::devices::{Devices, Selector};
use crate::graph::plan::{SourceSpec, V4l2Input};
use crate::model::{Device, DeviceType, Graph, Node, NodeType, PackageSource};

/// What the sources of a graph resolve to now.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub specs: BTreeMap<String, SourceSpec>,
    /// node → device id, for nodes fed by a device.
    pub devices: BTreeMap<String, String>,
    pub sources: Vec<PackageSource>,
}

/// GStreamer's name for a V4L2 raw pixel format.
fn gst_format(fourcc: &str) -> Option<&'static str> {
    Some(match fourcc {
        "YUYV" => "YUY2",
        "UYVY" => "UYVY",
        "NV12" => "NV12",
        "YU12" => "I420",
        "YV12" => "YV12",
        "RGB3" => "RGB",
        "BGR3" => "BGR",
        _ => return None,
    })
}

/// Picks how to capture from a V4L2 device: raw at the wanted size and rate if it offers
/// that, else motion JPEG at that size, else whatever it offers (scaled afterwards).
pub fn choose_input(device: &Device, width: u32, height: u32, fps: u32) -> V4l2Input {
    let fits = |f: &crate::model::VideoFormat| {
        f.width == width
            && f.height == height
            && f.framerates
                .iter()
                .any(|r| (*r - f64::from(fps)).abs() < 0.5)
    };
    if let Some((f, format)) = device
        .formats
        .iter()
        .filter(|f| fits(f))
        .find_map(|f| gst_format(&f.format).map(|g| (f, g)))
    {
        return V4l2Input::Raw {
            format: format.to_string(),
            width: f.width,
            height: f.height,
            fps,
        };
    }
    if device.formats.iter().any(|f| f.format == "MJPG" && fits(f)) {
        return V4l2Input::Jpeg { width, height, fps };
    }
    V4l2Input::Any
}

fn option(node: &Node, key: &str) -> String {
    node.options
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn number(node: &Node, key: &str) -> u32 {
    node.options
        .get(key)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}

/// A URL with credentials for GStreamer, and the same with the password masked for people.
fn with_credentials(url: &str, username: &str, password: &str) -> (String, String) {
    match url.split_once("://") {
        Some((scheme, rest)) if !username.is_empty() => {
            let user =
                url::form_urlencoded::byte_serialize(username.as_bytes()).collect::<String>();
            let pass =
                url::form_urlencoded::byte_serialize(password.as_bytes()).collect::<String>();
            let shown_pass = if password.is_empty() {
                String::new()
            } else {
                format!(":{}", crate::secrets::MASK)
            };
            let real_pass = if password.is_empty() {
                String::new()
            } else {
                format!(":{pass}")
            };
            (
                format!("{scheme}://{user}{real_pass}@{rest}"),
                format!("{scheme}://{user}{shown_pass}@{rest}"),
            )
        }
        _ => (url.to_string(), url.to_string()),
    }
}

fn device_spec(node: &Node, device: &Device, devices: &Devices) -> SourceSpec {
    let missing = || SourceSpec::Missing {
        name: device.name.clone(),
    };
    match device.plugin.as_str() {
        "v4l2" => SourceSpec::V4l2 {
            path: device.path.clone(),
            input: choose_input(
                device,
                number(node, "width"),
                number(node, "height"),
                number(node, "framerate"),
            ),
        },
        "alsa" => SourceSpec::Alsa {
            path: device.path.clone(),
        },
        "test" => match devices.test_device(&device.id) {
            Some(cfg) if device.kind == DeviceType::Video => SourceSpec::TestVideo {
                pattern: cfg.pattern.unwrap_or_else(|| "smpte".into()),
                width: cfg.width.unwrap_or(1280),
                height: cfg.height.unwrap_or(720),
                fps: cfg.framerate.unwrap_or(30),
            },
            Some(cfg) => SourceSpec::TestAudio {
                wave: cfg.wave.unwrap_or_else(|| "sine".into()),
                frequency: cfg.frequency.unwrap_or(440.0),
                rate: cfg.rate.unwrap_or(48000),
                channels: cfg.channels.unwrap_or(2),
            },
            None => missing(),
        },
        "network" => match devices.network_camera(&device.id) {
            Some(cam) => {
                let (uri, shown) = with_credentials(
                    &cam.url,
                    cam.username.as_deref().unwrap_or_default(),
                    cam.password.as_deref().unwrap_or_default(),
                );
                SourceSpec::Network { uri, shown }
            }
            None => missing(),
        },
        _ => missing(),
    }
}

/// Resolves every source node of `graph` against the devices present now. A device that
/// cannot be found becomes a `Missing` source: the recording still starts, on the slate.
pub fn resolve(graph: &Graph, devices: &Devices) -> Resolved {
    let mut resolved = Resolved {
        specs: BTreeMap::new(),
        devices: BTreeMap::new(),
        sources: Vec::new(),
    };
    for node in &graph.nodes {
        let kind = match node.kind {
            NodeType::VideoDevice => DeviceType::Video,
            NodeType::AudioDevice => DeviceType::Audio,
            NodeType::NetworkSource => {
                let (uri, shown) = with_credentials(
                    &option(node, "url"),
                    &option(node, "username"),
                    &option(node, "password"),
                );
                resolved.sources.push(PackageSource {
                    node_id: node.id.clone(),
                    device_id: None,
                    name: shown.clone(),
                });
                resolved
                    .specs
                    .insert(node.id.clone(), SourceSpec::Network { uri, shown });
                continue;
            }
            _ => continue,
        };
        let selector = option(node, "device");
        let found = selector
            .parse::<Selector>()
            .map_err(|e| e.to_string())
            .and_then(|s| devices.resolve(&s, kind).map_err(|e| e.to_string()));
        match found {
            Ok(device) => {
                resolved
                    .specs
                    .insert(node.id.clone(), device_spec(node, &device, devices));
                resolved.devices.insert(node.id.clone(), device.id.clone());
                resolved.sources.push(PackageSource {
                    node_id: node.id.clone(),
                    device_id: Some(device.id.clone()),
                    name: device.name.clone(),
                });
            }
            Err(reason) => {
                log::warn!("node {}: {reason}; recording its slate", node.id);
                resolved.specs.insert(
                    node.id.clone(),
                    SourceSpec::Missing {
                        name: selector.clone(),
                    },
                );
                resolved.sources.push(PackageSource {
                    node_id: node.id.clone(),
                    device_id: None,
                    name: format!("missing: {selector}"),
                });
            }
        }
    }
    resolved
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeviceRole, Signal, VideoFormat};

    fn cam(formats: Vec<(&str, u32, u32, Vec<f64>)>) -> Device {
        Device {
            id: "v4l2:x".into(),
            name: "Cam".into(),
            kind: DeviceType::Video,
            plugin: "v4l2".into(),
            role: DeviceRole::Camera,
            path: "/dev/video0".into(),
            bus_info: None,
            stable_id: "v4l2:x".into(),
            driver: None,
            card: None,
            formats: formats
                .into_iter()
                .map(|(f, w, h, r)| VideoFormat {
                    format: f.into(),
                    width: w,
                    height: h,
                    framerates: r,
                })
                .collect(),
            audio: None,
            inputs: vec![],
            present: true,
            signal: Signal::Ok,
            detected: None,
            in_use: false,
        }
    }

    #[test]
    fn raw_is_preferred_then_jpeg_then_anything() {
        let both = cam(vec![
            ("MJPG", 1280, 720, vec![30.0]),
            ("YUYV", 1280, 720, vec![10.0, 30.0]),
        ]);
        assert_eq!(
            choose_input(&both, 1280, 720, 30),
            V4l2Input::Raw {
                format: "YUY2".into(),
                width: 1280,
                height: 720,
                fps: 30
            }
        );
        let jpeg_only = cam(vec![
            ("MJPG", 1920, 1080, vec![30.0]),
            ("YUYV", 1920, 1080, vec![5.0]),
        ]);
        assert_eq!(
            choose_input(&jpeg_only, 1920, 1080, 30),
            V4l2Input::Jpeg {
                width: 1920,
                height: 1080,
                fps: 30
            }
        );
        assert_eq!(choose_input(&jpeg_only, 640, 480, 30), V4l2Input::Any);
    }

    #[test]
    fn credentials_go_into_the_url_and_are_masked_for_people() {
        let (uri, shown) = with_credentials("rtsp://10.0.0.1/s", "admin", "p@ss");
        assert_eq!(uri, "rtsp://admin:p%40ss@10.0.0.1/s");
        assert_eq!(shown, "rtsp://admin:••••@10.0.0.1/s");
        assert_eq!(with_credentials("rtsp://h/s", "", "").0, "rtsp://h/s");
    }
}
