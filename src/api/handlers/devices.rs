//! The `devices` group and `/status/devices`.

use axum::Json;
use axum::extract::State;

use crate::daemon::Daemon;
use crate::model::{Device, DeviceType};

/// Audio capture devices
///
/// Present devices, and absent ones that were seen since castd started (`present: false`).
#[utoipa::path(get, path = "/devices/audio", tag = "devices", operation_id = "getAudioDevices",
    responses((status = 200, body = Vec<Device>)))]
pub(crate) async fn get_audio_devices(State(daemon): State<Daemon>) -> Json<Vec<Device>> {
    Json(daemon.devices().list(Some(DeviceType::Audio)))
}

/// Video capture devices
///
/// Present devices, and absent ones that were seen since castd started (`present: false`).
#[utoipa::path(get, path = "/devices/video", tag = "devices", operation_id = "getVideoDevices",
    responses((status = 200, body = Vec<Device>)))]
pub(crate) async fn get_video_devices(State(daemon): State<Daemon>) -> Json<Vec<Device>> {
    Json(daemon.devices().list(Some(DeviceType::Video)))
}

/// Redetect all devices
///
/// A full scan of every enabled device plugin; answers the list afterwards.
#[utoipa::path(post, path = "/devices/redetect", tag = "devices", operation_id = "redetectDevices",
    responses((status = 200, body = Vec<Device>)))]
pub(crate) async fn redetect_devices(State(daemon): State<Daemon>) -> Json<Vec<Device>> {
    Json(daemon.devices().rescan().await)
}

/// Redetect all devices (GET, as some clients send it)
#[utoipa::path(get, path = "/devices/redetect", tag = "devices", operation_id = "redetectDevicesGet",
    responses((status = 200, body = Vec<Device>)))]
pub(crate) async fn redetect_devices_get(State(daemon): State<Daemon>) -> Json<Vec<Device>> {
    Json(daemon.devices().rescan().await)
}

/// Audio and video devices with their live signal state
#[utoipa::path(get, path = "/status/devices", tag = "status", operation_id = "getStatusDevices",
    responses((status = 200, body = Vec<Device>)))]
pub(crate) async fn get_status_devices(State(daemon): State<Daemon>) -> Json<Vec<Device>> {
    Json(daemon.devices().list(None))
}
