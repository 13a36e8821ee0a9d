//! The `network` plugin: network cameras and encoders configured by URL (RTSP, RTMP, SRT,
//! HTTP), listed as video (and optionally audio) devices with a reachability state.
//!
//! Reachability is a TCP connection to the URL's host and port, retried in the background;
//! it says the camera answers, not that its stream decodes (a test capture tells that).
//! Credentials are write-only: device paths show URLs with the password masked.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;
use utoipa::ToSchema;

use crate::model::{Device, DeviceRole, DeviceType, Signal};
use crate::secrets;

/// One configured network source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkCamera {
    /// Short id; the device's stable id is `network:<id>`.
    pub id: String,
    pub name: String,
    /// `rtsp://`, `rtsps://`, `rtmp://`, `rtmps://`, `srt://`, `http://` or `https://`.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Write-only; shown masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The stream carries audio worth listing as an audio device.
    #[serde(default)]
    pub audio: bool,
}

/// Settings of the `network` plugin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkSettings {
    #[serde(default)]
    pub cameras: Vec<NetworkCamera>,
}

const SCHEMES: &[&str] = &["rtsp", "rtsps", "rtmp", "rtmps", "srt", "http", "https"];

impl NetworkSettings {
    /// Checks the cameras; `previous` supplies passwords the client sent back masked.
    pub fn validate(mut self, previous: &NetworkSettings) -> Result<NetworkSettings, String> {
        let mut ids = BTreeSet::new();
        for cam in &mut self.cameras {
            if !super::test_devices::is_slug(&cam.id) {
                return Err(format!(
                    "camera id {:?}: use 1-32 of a-z, 0-9 and -",
                    cam.id
                ));
            }
            if !ids.insert(cam.id.clone()) {
                return Err(format!("camera id {:?} appears twice", cam.id));
            }
            if cam.name.trim().is_empty() || cam.name.len() > 64 {
                return Err(format!("camera {}: name must be 1-64 characters", cam.id));
            }
            let url =
                Url::parse(&cam.url).map_err(|e| format!("camera {}: invalid URL: {e}", cam.id))?;
            if !SCHEMES.contains(&url.scheme()) {
                return Err(format!(
                    "camera {}: unsupported scheme {}",
                    cam.id,
                    url.scheme()
                ));
            }
            if url.host_str().is_none_or(str::is_empty) {
                return Err(format!("camera {}: the URL has no host", cam.id));
            }
            if url.password().is_some() {
                return Err(format!(
                    "camera {}: put the password in `password`, not in the URL",
                    cam.id
                ));
            }
            let old = previous.cameras.iter().find(|c| c.id == cam.id);
            cam.password = secrets::keep_or_replace(
                cam.password.take(),
                old.and_then(|c| c.password.as_deref()),
            );
        }
        Ok(self)
    }

    /// The settings as the API shows them: passwords masked.
    pub fn masked(&self) -> NetworkSettings {
        let mut shown = self.clone();
        for cam in &mut shown.cameras {
            cam.password = cam.password.as_deref().map(secrets::mask);
        }
        shown
    }
}

impl NetworkCamera {
    /// The URL with the user name and, masked, the password.
    pub fn display_url(&self) -> String {
        match (&self.username, self.url.split_once("://")) {
            (Some(user), Some((scheme, rest))) => {
                let user =
                    url::form_urlencoded::byte_serialize(user.as_bytes()).collect::<String>();
                let password = if self.password.is_some() {
                    format!(":{}", secrets::MASK)
                } else {
                    String::new()
                };
                format!("{scheme}://{user}{password}@{rest}")
            }
            _ => self.url.clone(),
        }
    }

    /// Host and port to probe, with the scheme's default port.
    fn endpoint(&self) -> Option<(String, u16)> {
        let url = Url::parse(&self.url).ok()?;
        let port = url.port().or(match url.scheme() {
            "rtsp" => Some(554),
            "rtsps" => Some(322),
            "rtmp" => Some(1935),
            "rtmps" | "https" => Some(443),
            "http" => Some(80),
            _ => None,
        })?;
        Some((url.host_str()?.trim_matches(['[', ']']).to_string(), port))
    }
}

/// Probes whether the camera answers: `Ok` when a TCP connection opens, `None` when it is
/// refused or times out, `Unknown` for SRT (UDP: nothing to connect to without a session).
pub async fn probe(camera: &NetworkCamera) -> Signal {
    if camera.url.starts_with("srt:") {
        return Signal::Unknown;
    }
    let Some((host, port)) = camera.endpoint() else {
        return Signal::Unknown;
    };
    match tokio::time::timeout(
        Duration::from_secs(2),
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(_)) => Signal::Ok,
        _ => Signal::None,
    }
}

/// The devices the cameras make, with their last probed signal.
pub fn devices(settings: &NetworkSettings, signal_of: impl Fn(&str) -> Signal) -> Vec<Device> {
    let mut out = Vec::new();
    for cam in &settings.cameras {
        let signal = signal_of(&cam.id);
        let base = format!("network:{}", cam.id);
        let device = |id: String, kind, name: String| Device {
            id: id.clone(),
            name,
            kind,
            plugin: "network".into(),
            role: DeviceRole::Camera,
            path: cam.display_url(),
            bus_info: None,
            stable_id: id,
            driver: None,
            card: None,
            formats: Vec::new(),
            audio: None,
            inputs: Vec::new(),
            present: true,
            signal,
            detected: None,
            in_use: false,
        };
        out.push(device(base.clone(), DeviceType::Video, cam.name.clone()));
        if cam.audio {
            out.push(device(
                format!("{base}:audio"),
                DeviceType::Audio,
                format!("{} (audio)", cam.name),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam(url: &str) -> NetworkCamera {
        NetworkCamera {
            id: "front".into(),
            name: "Front camera".into(),
            url: url.into(),
            username: Some("viewer".into()),
            password: Some("s3cret-password".into()),
            audio: true,
        }
    }

    #[test]
    fn urls_are_checked_and_passwords_kept_out_of_them() {
        let ok = NetworkSettings {
            cameras: vec![cam("rtsp://10.0.0.5/stream1")],
        };
        assert!(ok.clone().validate(&NetworkSettings::default()).is_ok());
        for bad in [
            "ftp://x/y",
            "rtsp:///nohost",
            "not a url",
            "rtsp://u:p@10.0.0.5/s",
        ] {
            let s = NetworkSettings {
                cameras: vec![cam(bad)],
            };
            assert!(s.validate(&NetworkSettings::default()).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_masked_and_survive_a_round_trip() {
        let stored = NetworkSettings {
            cameras: vec![cam("rtsp://10.0.0.5/stream1")],
        }
        .validate(&NetworkSettings::default())
        .unwrap();
        let shown = stored.masked();
        assert_eq!(shown.cameras[0].password.as_deref(), Some("••••word"));
        let again = shown.validate(&stored).unwrap();
        assert_eq!(
            again.cameras[0].password.as_deref(),
            Some("s3cret-password")
        );
        let list = devices(&stored, |_| Signal::Ok);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].path, "rtsp://viewer:••••@10.0.0.5/stream1");
        assert!(!list[0].path.contains("s3cret"));
        assert_eq!(list[1].id, "network:front:audio");
    }

    #[tokio::test]
    async fn reachability_is_a_tcp_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(
            probe(&cam(&format!("rtsp://127.0.0.1:{port}/s"))).await,
            Signal::Ok
        );
        drop(listener);
        assert_eq!(
            probe(&cam(&format!("rtsp://127.0.0.1:{port}/s"))).await,
            Signal::None
        );
        assert_eq!(probe(&cam("srt://127.0.0.1:9000")).await, Signal::Unknown);
    }
}
