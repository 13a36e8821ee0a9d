//! Capture templates and the graphs of processor nodes they own.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The kinds of processor node a graph can hold.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum NodeType {
    VideoDevice,
    AudioDevice,
    NetworkSource,
    TestVideo,
    TestAudio,
    Slate,
    Compositor,
    AudioMixer,
    H264Encoder,
    AacEncoder,
    FileRecorder,
    RtmpOutput,
    Preview,
}

/// One processor in a graph; data flows from parents to children.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Node {
    /// Empty only while a node is being added (it then gets an id).
    #[serde(default)]
    pub id: String,
    #[serde(rename = "type")]
    pub kind: NodeType,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub options: Map<String, Value>,
    #[serde(default)]
    pub parents: Vec<String>,
    #[serde(default)]
    pub children: Vec<String>,
    /// Services the node offers (filled in by the server).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
}

/// The processing description of a capture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Graph {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// The recorder whose file is the package's main output.
    pub root: String,
    pub nodes: Vec<Node>,
}

/// Values a capture takes from its template when the request leaves them out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateDefaults {
    /// Title when the request has none; `{template}`, `{date}` and `{time}` are replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_pattern: Option<String>,
    /// Duration in ms when the request has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// A capture template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Template {
    /// Short id (lowercase letters, digits, `-`); generated from the name when absent.
    #[serde(default)]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub graph: Graph,
    /// Publishing configurations applied to recordings made with this template.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub publishing: Vec<Value>,
    #[serde(default)]
    pub defaults: TemplateDefaults,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub options: Map<String, Value>,
}
