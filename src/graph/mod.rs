//! Capture graphs: structure rules, option schemas, and the compilation of a graph into a
//! GStreamer pipeline plan. Pure: no GStreamer, no I/O; unit-tested on its own.

pub mod compile;
pub mod plan;
pub mod schema;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::model::{Graph, Node, NodeType};
pub use schema::OptionError;

/// The most nodes a graph may have. A lecture hall's graph has 5 to 20; the bound keeps the
/// cost of validating, compiling and preflighting a hostile graph small (a 10,000-node
/// graph cost about a second of CPU per check).
pub const MAX_NODES: usize = 64;
/// The most parent and child references all nodes together may list (each link is usually
/// listed on both of its ends, so this allows 256 links).
pub const MAX_LINK_REFERENCES: usize = 512;

/// What flows out of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    RawVideo,
    RawAudio,
    H264,
    Aac,
    /// Sinks produce nothing.
    Nothing,
}

impl Media {
    pub fn name(self) -> &'static str {
        match self {
            Media::RawVideo => "raw video",
            Media::RawAudio => "raw audio",
            Media::H264 => "H.264",
            Media::Aac => "AAC",
            Media::Nothing => "nothing",
        }
    }
}

/// What is wrong with a graph.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GraphError {
    #[error("node id {0:?}: use 1-64 of a-z, 0-9, - and _")]
    InvalidId(String),
    #[error("node id {0:?} is used twice")]
    DuplicateId(String),
    #[error("node {node} refers to unknown node {reference:?}")]
    UnknownNode { node: String, reference: String },
    #[error("the graph has a cycle through {0}")]
    Cycle(String),
    #[error("the root {0:?} must name a fileRecorder node of the graph")]
    BadRoot(String),
    #[error("node {node}: {reason}")]
    BadLinks { node: String, reason: String },
    #[error(transparent)]
    Option(#[from] OptionError),
    #[error("the graph has no nodes")]
    Empty,
    #[error("the graph has {found} {what}; at most {limit} are allowed")]
    TooLarge {
        what: &'static str,
        found: usize,
        limit: usize,
    },
}

impl GraphError {
    /// The node the error is about, if one.
    pub fn node(&self) -> Option<&str> {
        match self {
            GraphError::DuplicateId(n) | GraphError::InvalidId(n) => Some(n),
            GraphError::UnknownNode { node, .. } | GraphError::BadLinks { node, .. } => Some(node),
            GraphError::Option(e) => Some(&e.node),
            _ => None,
        }
    }
}

pub fn is_node_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// What a node produces.
pub fn output(node: &Node) -> Media {
    match node.kind {
        NodeType::VideoDevice | NodeType::TestVideo | NodeType::Slate | NodeType::Compositor => {
            Media::RawVideo
        }
        NodeType::AudioDevice | NodeType::TestAudio | NodeType::AudioMixer => Media::RawAudio,
        NodeType::NetworkSource => {
            if node.options.get("stream").and_then(|v| v.as_str()) == Some("audio") {
                Media::RawAudio
            } else {
                Media::RawVideo
            }
        }
        NodeType::H264Encoder => Media::H264,
        NodeType::AacEncoder => Media::Aac,
        NodeType::FileRecorder | NodeType::RtmpOutput | NodeType::Preview => Media::Nothing,
    }
}

/// Checks a graph and returns it normalised: options complete, every edge listed on both
/// of its ends, nodes in topological order (parents before children).
pub fn validate(graph: &Graph) -> Result<Graph, GraphError> {
    if graph.nodes.is_empty() {
        return Err(GraphError::Empty);
    }
    check_size(graph)?;
    let ids = node_ids(graph)?;
    let edges = edges(graph, &ids)?;
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    for node in &graph.nodes {
        nodes.insert(node.id.clone(), normalised_node(node, &edges)?);
    }
    let order = topological_order(&nodes)?;
    for id in &order {
        check_links(&nodes[id], &nodes)?;
    }
    match nodes.get(&graph.root) {
        Some(root) if root.kind == NodeType::FileRecorder => {}
        _ => return Err(GraphError::BadRoot(graph.root.clone())),
    }
    Ok(Graph {
        id: graph.id.clone(),
        name: graph.name.clone(),
        root: graph.root.clone(),
        nodes: order
            .into_iter()
            .filter_map(|id| nodes.remove(&id))
            .collect(),
    })
}

/// The graph's node ids, each well formed and used once.
fn node_ids(graph: &Graph) -> Result<BTreeSet<String>, GraphError> {
    let mut ids = BTreeSet::new();
    for node in &graph.nodes {
        if !is_node_id(&node.id) {
            return Err(GraphError::InvalidId(node.id.clone()));
        }
        if !ids.insert(node.id.clone()) {
            return Err(GraphError::DuplicateId(node.id.clone()));
        }
    }
    Ok(ids)
}

/// Edges (parent, child) from either end, deduplicated; each must name a node of the
/// graph, and none may loop back to its own node.
fn edges(graph: &Graph, ids: &BTreeSet<String>) -> Result<BTreeSet<(String, String)>, GraphError> {
    let mut edges: BTreeSet<(String, String)> = BTreeSet::new();
    for node in &graph.nodes {
        for parent in &node.parents {
            edges.insert((parent.clone(), node.id.clone()));
        }
        for child in &node.children {
            edges.insert((node.id.clone(), child.clone()));
        }
    }
    for (from, to) in &edges {
        for (node, reference) in [(to, from), (from, to)] {
            if !ids.contains(reference) {
                return Err(GraphError::UnknownNode {
                    node: node.clone(),
                    reference: reference.clone(),
                });
            }
        }
        if from == to {
            return Err(GraphError::Cycle(from.clone()));
        }
    }
    Ok(edges)
}

/// A node with its options checked and completed, and its links listed on both ends.
fn normalised_node(node: &Node, edges: &BTreeSet<(String, String)>) -> Result<Node, GraphError> {
    let options = schema::validate_options(&node.id, node.kind, &node.options)?;
    // Keep the author's order of parents (it decides compositor placement), then add
    // parents only listed on the other end.
    let mut parents: Vec<String> = node.parents.iter().fold(Vec::new(), |mut acc, p| {
        if !acc.contains(p) {
            acc.push(p.clone());
        }
        acc
    });
    for (from, to) in edges {
        if to == &node.id && !parents.contains(from) {
            parents.push(from.clone());
        }
    }
    let children = edges
        .iter()
        .filter(|(from, _)| from == &node.id)
        .map(|(_, to)| to.clone())
        .collect();
    Ok(Node {
        id: node.id.clone(),
        kind: node.kind,
        options,
        parents,
        children,
        services: Vec::new(),
    })
}

/// Refuses graphs beyond [`MAX_NODES`] and [`MAX_LINK_REFERENCES`] before any work that
/// grows with their size.
pub fn check_size(graph: &Graph) -> Result<(), GraphError> {
    if graph.nodes.len() > MAX_NODES {
        return Err(GraphError::TooLarge {
            what: "nodes",
            found: graph.nodes.len(),
            limit: MAX_NODES,
        });
    }
    let references: usize = graph
        .nodes
        .iter()
        .map(|n| n.parents.len() + n.children.len())
        .sum();
    if references > MAX_LINK_REFERENCES {
        return Err(GraphError::TooLarge {
            what: "parent and child references",
            found: references,
            limit: MAX_LINK_REFERENCES,
        });
    }
    Ok(())
}

#[expect(clippy::expect_used, reason = "invariant: edges were checked")]
fn topological_order(nodes: &BTreeMap<String, Node>) -> Result<Vec<String>, GraphError> {
    let mut pending: BTreeMap<&str, usize> = nodes
        .iter()
        .map(|(id, n)| (id.as_str(), n.parents.len()))
        .collect();
    // Start from sources in the graph's own order for a stable result.
    let mut ready: VecDeque<&str> = pending
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(id, _)| *id)
        .collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(id) = ready.pop_front() {
        order.push(id.to_string());
        for child in &nodes[id].children {
            let left = pending.get_mut(child.as_str()).expect("edges were checked");
            *left -= 1;
            if *left == 0 {
                ready.push_back(child);
            }
        }
    }
    if order.len() < nodes.len() {
        let stuck = pending
            .iter()
            .find(|(id, n)| **n > 0 && !order.iter().any(|o| o == *id))
            .map(|(id, _)| id.to_string())
            .unwrap_or_default();
        return Err(GraphError::Cycle(stuck));
    }
    Ok(order)
}

fn check_links(node: &Node, nodes: &BTreeMap<String, Node>) -> Result<(), GraphError> {
    let bad = |reason: String| GraphError::BadLinks {
        node: node.id.clone(),
        reason,
    };
    let inputs: Vec<Media> = node.parents.iter().map(|p| output(&nodes[p])).collect();
    let count = |m: Media| inputs.iter().filter(|i| **i == m).count();
    let only = |allowed: &[Media]| -> Result<(), GraphError> {
        match inputs.iter().find(|i| !allowed.contains(i)) {
            Some(m) => Err(bad(format!("cannot take {} as input", m.name()))),
            None => Ok(()),
        }
    };
    match node.kind {
        NodeType::VideoDevice
        | NodeType::AudioDevice
        | NodeType::NetworkSource
        | NodeType::TestVideo
        | NodeType::TestAudio
        | NodeType::Slate => {
            if !inputs.is_empty() {
                return Err(bad("a source has no parents".into()));
            }
        }
        NodeType::Compositor => {
            only(&[Media::RawVideo])?;
            let layout = node.options["layout"].as_str().unwrap_or_default();
            let wanted = if layout == "single" { 1 } else { 2 };
            if inputs.len() != wanted {
                return Err(bad(format!(
                    "layout {layout} needs {wanted} video input(s), has {}",
                    inputs.len()
                )));
            }
        }
        NodeType::AudioMixer => {
            only(&[Media::RawAudio])?;
            if inputs.is_empty() {
                return Err(bad("needs at least one audio input".into()));
            }
        }
        NodeType::H264Encoder | NodeType::Preview => {
            only(&[Media::RawVideo])?;
            if inputs.len() != 1 {
                return Err(bad("needs exactly one video input".into()));
            }
        }
        NodeType::AacEncoder => {
            only(&[Media::RawAudio])?;
            if inputs.len() != 1 {
                return Err(bad("needs exactly one audio input".into()));
            }
        }
        NodeType::FileRecorder => {
            only(&[Media::H264, Media::Aac])?;
            if count(Media::H264) > 1 || inputs.is_empty() {
                return Err(bad(
                    "records one H.264 stream and any number of AAC streams".into(),
                ));
            }
        }
        NodeType::RtmpOutput => {
            only(&[Media::H264, Media::Aac])?;
            if count(Media::H264) != 1 || count(Media::Aac) > 1 {
                return Err(bad(
                    "streams one H.264 stream and at most one AAC stream".into()
                ));
            }
        }
    }
    if output(node) == Media::Nothing && !node.children.is_empty() {
        return Err(bad("an output has no children".into()));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn lecture_graph() -> Graph {
        serde_json::from_value(json!({
            "id": "lecture", "name": "Lecture", "root": "recording",
            "nodes": [
                {"id": "camera", "type": "videoDevice", "options": {"device": "role:camera"}, "children": ["video", "preview"]},
                {"id": "microphone", "type": "audioDevice", "children": ["audio"]},
                {"id": "video", "type": "h264Encoder", "children": ["recording"]},
                {"id": "audio", "type": "aacEncoder", "children": ["recording"]},
                {"id": "recording", "type": "fileRecorder"},
                {"id": "preview", "type": "preview"}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn a_valid_graph_is_normalised() {
        let g = validate(&lecture_graph()).unwrap();
        let rec = g.nodes.iter().find(|n| n.id == "recording").unwrap();
        assert_eq!(rec.parents, ["audio", "video"]);
        assert_eq!(rec.options["container"], "mp4");
        let pos = |id: &str| g.nodes.iter().position(|n| n.id == id).unwrap();
        assert!(pos("camera") < pos("video") && pos("video") < pos("recording"));
    }

    #[test]
    fn structural_mistakes_are_named() {
        let mut g = lecture_graph();
        g.nodes[2].children.push("camera".into());
        assert!(matches!(
            validate(&g),
            Err(GraphError::BadLinks { .. } | GraphError::Cycle(_))
        ));

        let mut g = lecture_graph();
        g.nodes[4].children.push("video".into());
        assert!(
            matches!(validate(&g), Err(GraphError::Cycle(_))),
            "{:?}",
            validate(&g)
        );

        let mut g = lecture_graph();
        g.nodes[0].children.push("ghost".into());
        assert_eq!(
            validate(&g),
            Err(GraphError::UnknownNode {
                node: "camera".into(),
                reference: "ghost".into()
            })
        );

        let mut g = lecture_graph();
        g.root = "video".into();
        assert_eq!(validate(&g), Err(GraphError::BadRoot("video".into())));

        let mut g = lecture_graph();
        g.nodes[1].children = vec!["video".into()];
        let err = validate(&g).unwrap_err();
        assert!(matches!(err, GraphError::BadLinks { .. }), "{err}");
        assert!(matches!(err.node(), Some("audio" | "video")), "{err}");

        let mut g = lecture_graph();
        g.nodes[3].options.insert("bitrate".into(), json!(5));
        assert!(
            matches!(validate(&g), Err(GraphError::Option(OptionError { ref node, ref option, .. })) if node == "audio" && option == "bitrate")
        );

        let mut g = lecture_graph();
        g.nodes[5].id = "Preview!".into();
        assert!(matches!(validate(&g), Err(GraphError::InvalidId(_))));
    }

    #[test]
    fn graphs_beyond_the_size_bounds_are_refused_before_any_work() {
        let mut g = lecture_graph();
        let template = g.nodes[5].clone();
        while g.nodes.len() < MAX_NODES {
            let mut extra = template.clone();
            extra.id = format!("preview-{}", g.nodes.len());
            extra.parents = vec!["camera".into()];
            g.nodes.push(extra);
        }
        assert!(validate(&g).is_ok(), "{:?}", validate(&g));
        let mut extra = template.clone();
        extra.id = "one-too-many".into();
        g.nodes.push(extra);
        assert_eq!(
            validate(&g),
            Err(GraphError::TooLarge {
                what: "nodes",
                found: MAX_NODES + 1,
                limit: MAX_NODES
            })
        );

        let mut g = lecture_graph();
        g.nodes[0].children = vec!["video".into(); MAX_LINK_REFERENCES];
        assert!(matches!(
            validate(&g),
            Err(GraphError::TooLarge {
                what: "parent and child references",
                ..
            })
        ));
    }
}
