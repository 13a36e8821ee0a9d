//! Capture requests, media packages and their outputs, markers and reports.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::Graph;
use super::schedule::yes;
use super::speaker::no_speaker;

/// What to record (CaptureCast CaptureRequest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaptureRequest {
    /// At most 256 characters, no control characters; the template's title pattern when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Template id or name; the `defaultTemplate` setting when absent.
    #[serde(
        rename = "templateID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub template_id: Option<String>,
    /// Milliseconds after which the capture stops by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    /// Speaker id (number or digits) or name, or a Speaker object; `0`, `null` or `""`:
    /// no speaker. Kept (in a package's `request`) as the id, 0 when none or inline.
    #[serde(default = "no_speaker")]
    #[schema(value_type = Value)]
    pub speaker: Value,
    /// The whole speaker, filled in by castd; sent with the `speaker` it belongs to (as
    /// an Event's) it is kept, else ignored.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub speaker_info: Option<Value>,
    /// At most 50 tags of 1 to 64 characters, no control characters.
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub options: Map<String, Value>,
    /// At most 64 KiB of JSON.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    /// Publisher config keys laid over the configuration this recording is published
    /// with: `{publisherID: {keys}}` or a list of PublishPlatformConfiguration. An
    /// Administrator may set any key; anyone else only the harmless ones: `local`: `path`
    /// (the configured folder or one below it) and `subfolder`; `s3`: `prefix` (the
    /// configured one or below it); `flowcapture`: `batchName`; `opencast`: `workflowID`,
    /// `workflowConfig` (403 `publish.override_forbidden` / `publish.outside_configured`).
    /// Secrets given here are masked in answers and left out of manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub publishing_overrides: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub assets: Vec<Value>,
    /// Publish when done (default true).
    #[serde(default = "yes")]
    pub publishing: bool,
    /// Publish source copies too (default true).
    #[serde(default = "yes")]
    pub publishing_redundant_copies: bool,
    /// Publish the assets (default true).
    #[serde(default = "yes")]
    pub publishing_speaker_files: bool,
    /// Publish the speaker's information and image (default true).
    #[serde(default = "yes")]
    pub publishing_speaker_information: bool,
    /// Publish the table of contents (default true).
    #[serde(default = "yes")]
    pub publishing_table_of_contents: bool,
}

/// A request with nothing in it: every field at the default a client gets by leaving it out.
impl Default for CaptureRequest {
    fn default() -> CaptureRequest {
        CaptureRequest {
            title: None,
            template_id: None,
            duration: None,
            speaker: no_speaker(),
            speaker_info: None,
            tags: Vec::new(),
            options: Map::new(),
            metadata: Map::new(),
            publishing_overrides: None,
            assets: Vec::new(),
            publishing: true,
            publishing_redundant_copies: true,
            publishing_speaker_files: true,
            publishing_speaker_information: true,
            publishing_table_of_contents: true,
        }
    }
}

/// A point of interest on the recorded timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Marker {
    /// Milliseconds into the recording (pauses excluded).
    pub time: i64,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One file of a media package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub entry: String,
    /// MIME type.
    #[serde(rename = "type")]
    pub mime: String,
    /// File name relative to the package directory.
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    #[serde(rename = "nodeID", default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PackageState {
    Capturing,
    Processing,
    Complete,
    /// Recovered after a crash, or stopped early (disk full): usable but incomplete.
    Partial,
    Failed,
}

/// A device a package was recorded from (CaptureCast Source).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageSource {
    #[serde(rename = "nodeID")]
    pub node_id: String,
    #[serde(rename = "deviceID", default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    pub name: String,
}

/// The file name of a package's manifest, in its directory and at every destination.
pub const MANIFEST: &str = "manifest.json";

/// A recording and everything about it (CaptureCast MediaPackage).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MediaPackage {
    pub id: String,
    pub title: String,
    /// Milliseconds since the epoch.
    pub creation_date: i64,
    /// The package directory.
    pub root: String,
    pub outputs: BTreeMap<String, Output>,
    /// The sources recorded, by node id (the vendor's object mapping strings to Sources).
    #[serde(deserialize_with = "sources_by_node")]
    pub sources: BTreeMap<String, PackageSource>,
    /// publisherID → destination state (filled by publishing).
    #[schema(value_type = Object)]
    pub publishing: Map<String, Value>,
    /// The graph the package was recorded with.
    pub processing: Graph,
    pub state: PackageState,
    /// Recorded milliseconds (pauses excluded).
    pub duration: i64,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    /// The speaker's id; 0 when there is none or it is an inline speaker (as in Event).
    #[serde(default = "no_speaker")]
    #[schema(value_type = i64)]
    pub speaker: Value,
    /// The whole speaker as it was when the package took it (`null` when none).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub speaker_info: Option<Value>,
    #[serde(rename = "templateID")]
    pub template_id: String,
    #[serde(rename = "eventID", default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub markers: Vec<Marker>,
    /// Why the package is partial or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The request that started the capture (publishing flags, assets, options).
    #[schema(value_type = Object)]
    pub request: CaptureRequest,
    /// Set by castd, never from a request: the request's `publishingOverrides` came from
    /// an Administrator and apply whole. Without it only their harmless keys apply.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub publishing_overrides_by_administrator: bool,
}

/// Reads `sources` as the map castd answers, or as the list packages recorded before
/// it answered a map kept, so every stored package stays readable.
fn sources_by_node<'de, D: serde::Deserializer<'de>>(
    de: D,
) -> Result<BTreeMap<String, PackageSource>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Map(BTreeMap<String, PackageSource>),
        List(Vec<PackageSource>),
    }
    Ok(match Stored::deserialize(de)? {
        Stored::Map(map) => map,
        Stored::List(list) => list.into_iter().map(|s| (s.node_id.clone(), s)).collect(),
    })
}

/// Audio levels of a source, in dB per channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AudioLevels {
    pub peak: Vec<f64>,
    pub rms: Vec<f64>,
    /// Every channel's peak is below -60 dB.
    pub silent: bool,
}

/// The state of one node of a running session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    #[serde(rename = "nodeID")]
    pub node_id: String,
    #[serde(rename = "type")]
    pub kind: super::NodeType,
    /// `running`, `no-signal` (a slate or silence stands in), or `error`.
    pub state: String,
    pub buffers: u64,
    pub fps: f64,
    pub dropped: u64,
    /// Bits per second over the last second.
    pub bitrate: u64,
    pub signal: super::Signal,
    /// Since when the node has had no signal (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_lost_since: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The encoder element, for encoder nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<String>,
    #[serde(rename = "deviceID", default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// For `rtmpOutput` nodes: the live stream's figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamStats>,
}

/// A live stream's figures (the fields of Castr's media stats, plus connection facts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamStats {
    /// The server URL with the stream key masked.
    pub url: String,
    pub enabled: bool,
    /// `waiting` (for a keyframe), `connecting`, `live`, `reconnecting` or `disabled`.
    pub state: String,
    /// Live and data went out in the last seconds.
    pub alive: bool,
    /// Bits per second sent over the last second.
    pub bitrate: u64,
    pub fps: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_codec: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_codec: Option<String>,
    pub bytes_sent: u64,
    /// Connections lost and tried again since the session started.
    pub reconnects: u32,
    /// When the current connection went live (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected_since: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Result of running a template for a few seconds without keeping anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestReport {
    #[serde(rename = "templateID")]
    pub template_id: String,
    /// How long it ran (ms).
    pub duration: i64,
    /// True when every node delivered data and nothing failed.
    pub ok: bool,
    pub nodes: Vec<NodeStatus>,
    /// node → base64 JPEG, for every video node with a picture.
    pub thumbnails: BTreeMap<String, String>,
    pub errors: Vec<String>,
    pub encoders: Vec<String>,
}

/// Traffic-light level of a preflight check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckLevel {
    Green,
    Yellow,
    Red,
}

/// One preflight check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub code: String,
    pub level: CheckLevel,
    pub message: String,
    #[serde(rename = "nodeID", default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
}

/// Whether a template can record now, checked without running media.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Preflight {
    #[serde(rename = "templateID")]
    pub template_id: String,
    /// The worst level of all checks.
    pub overall: CheckLevel,
    pub checks: Vec<Check>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sources_read_as_a_map_whether_stored_as_one_or_as_a_list() {
        let package = |sources: Value| {
            serde_json::from_value::<MediaPackage>(json!({
                "id": "p", "title": "t", "creationDate": 1, "root": "/r", "outputs": {},
                "sources": sources, "publishing": {}, "processing": {"root": "rec", "nodes": []},
                "state": "complete", "duration": 0, "tags": [], "metadata": {},
                "templateID": "t", "markers": [], "request": {}
            }))
            .unwrap()
        };
        let camera = json!({"nodeID": "camera", "deviceID": "test:camera", "name": "Camera"});
        let old = package(json!([camera]));
        let new = package(json!({"camera": camera}));
        assert_eq!(old.sources, new.sources);
        assert_eq!(
            serde_json::to_value(&old).unwrap()["sources"],
            json!({"camera": camera})
        );
        // A request kept before the flags had their default reads them as true.
        assert!(old.request.publishing && old.request.publishing_table_of_contents);
    }
}
