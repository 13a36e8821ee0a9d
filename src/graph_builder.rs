//! The graph builder: graphs edited node by node (CaptureCast's `graphBuilder`), kept in
//! memory while they are worked on and saved to the database on request.
//!
//! Edits are checked as they happen (known types, valid options, links that exist, no
//! cycles) but a graph may be incomplete while it is built; the whole-graph rules (a
//! recorder root, encoders before recorders) apply when a session starts from it. A
//! running session compiled its own copy, so editing never disturbs it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::graph::{self, schema};
use crate::model::{Graph, Node, NodeType};
use crate::store::{self, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum GraphBookError {
    #[error("no graph {0:?}")]
    GraphNotFound(String),
    #[error("graph {graph:?} has no node {node:?}")]
    NodeNotFound { graph: String, node: String },
    #[error("{0}")]
    Invalid(String),
    #[error("node {node}: option {option}: {reason}")]
    InvalidOption {
        node: String,
        option: String,
        reason: String,
    },
    #[error("linking would make a cycle through {0}")]
    Cycle(String),
    #[error("node {0:?} is the graph's root; give the graph another root first")]
    RootRemoval(String),
    #[error("graph id {0:?} is taken")]
    Taken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(text: impl Into<String>) -> GraphBookError {
    GraphBookError::Invalid(text.into())
}

/// Cheap, cloneable handle to the graphs.
#[derive(Clone)]
pub struct GraphBook {
    store: Store,
    /// Graphs being edited (saved ones are loaded here on first use).
    working: Arc<Mutex<BTreeMap<String, Graph>>>,
}

fn new_id(prefix: &str) -> String {
    let bytes: [u8; 4] = rand::random();
    format!(
        "{prefix}{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// The node, with a new id (`node-` and 8 hex digits) when it came without one.
fn with_id(mut node: Node) -> Node {
    if node.id.trim().is_empty() {
        node.id = new_id("node-");
    }
    node
}

/// Node ids reachable from `from` by following children.
fn descendants(graph: &Graph, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_string()];
    while let Some(id) = stack.pop() {
        if let Some(node) = graph.nodes.iter().find(|n| n.id == id) {
            for child in &node.children {
                if seen.insert(child.clone()) {
                    stack.push(child.clone());
                }
            }
        }
    }
    seen
}

impl GraphBook {
    pub fn new(store: Store) -> GraphBook {
        GraphBook {
            store,
            working: Arc::default(),
        }
    }

    fn working(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Graph>> {
        self.working
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Loads a graph into the working set if it is only saved.
    async fn load(&self, id: &str) -> Result<(), GraphBookError> {
        if self.working().contains_key(id) {
            return Ok(());
        }
        let key = id.to_string();
        let saved = self
            .store
            .read(move |c| store::graphs::get(c, &key))
            .await?
            .ok_or_else(|| GraphBookError::GraphNotFound(id.to_string()))?;
        self.working().entry(id.to_string()).or_insert(saved);
        Ok(())
    }

    /// Runs `change` on the working copy of graph `id`; the copy changes only when it
    /// succeeds.
    async fn edit<T>(
        &self,
        id: &str,
        change: impl FnOnce(&mut Graph) -> Result<T, GraphBookError>,
    ) -> Result<T, GraphBookError> {
        self.load(id).await?;
        let mut working = self.working();
        let graph = working
            .get_mut(id)
            .ok_or_else(|| GraphBookError::GraphNotFound(id.to_string()))?;
        let mut draft = graph.clone();
        let out = change(&mut draft)?;
        *graph = draft;
        Ok(out)
    }

    pub async fn get(&self, id: &str) -> Result<Graph, GraphBookError> {
        self.load(id).await?;
        self.working()
            .get(id)
            .map(masked)
            .ok_or_else(|| GraphBookError::GraphNotFound(id.to_string()))
    }

    /// The graph with secrets, for starting a session.
    pub async fn get_unmasked(&self, id: &str) -> Result<Graph, GraphBookError> {
        self.load(id).await?;
        self.working()
            .get(id)
            .cloned()
            .ok_or_else(|| GraphBookError::GraphNotFound(id.to_string()))
    }

    /// Saved graphs (as saved, not their unsaved edits).
    pub async fn saved(&self) -> Result<Vec<Graph>, GraphBookError> {
        let all = self.store.read(store::graphs::all).await?;
        Ok(all.iter().map(masked).collect())
    }

    /// Ids of graphs being edited and not saved in their current form.
    pub async fn unsaved(&self) -> Result<Vec<String>, GraphBookError> {
        let saved: BTreeMap<String, Graph> = self
            .store
            .read(store::graphs::all)
            .await?
            .into_iter()
            .map(|g| (g.id.clone(), g))
            .collect();
        Ok(self
            .working()
            .iter()
            .filter(|(id, g)| saved.get(*id) != Some(*g))
            .map(|(id, _)| id.clone())
            .collect())
    }

    /// A new graph holding only its root node (given an id as addNode gives one when it
    /// has none).
    pub async fn create(&self, root: Node, name: Option<String>) -> Result<Graph, GraphBookError> {
        let mut root = checked_node(with_id(root), &[])?;
        root.parents.clear();
        root.children.clear();
        let id = new_id("graph-");
        let graph = Graph {
            id: id.clone(),
            name: name.unwrap_or_default(),
            root: root.id.clone(),
            nodes: vec![root],
        };
        self.working().insert(id, graph.clone());
        Ok(masked(&graph))
    }

    /// Renames a graph and/or gives it another of its nodes as root.
    pub async fn update(
        &self,
        id: &str,
        name: Option<String>,
        root: Option<String>,
    ) -> Result<Graph, GraphBookError> {
        let gid = id.to_string();
        self.edit(id, |graph| {
            if let Some(root) = root {
                if !graph.nodes.iter().any(|n| n.id == root) {
                    return Err(GraphBookError::NodeNotFound {
                        graph: gid,
                        node: root,
                    });
                }
                graph.root = root;
            }
            if let Some(name) = name {
                graph.name = name.trim().to_string();
            }
            Ok(())
        })
        .await?;
        self.get(id).await
    }

    /// Forgets a graph: its working copy and its saved form. Sessions started from it
    /// compiled their own copy and go on.
    pub async fn delete(&self, id: &str) -> Result<(), GraphBookError> {
        let was_working = self.working().remove(id).is_some();
        let key = id.to_string();
        let was_saved = self
            .store
            .write(move |tx| store::graphs::delete(tx, &key))
            .await?;
        if was_working || was_saved {
            Ok(())
        } else {
            Err(GraphBookError::GraphNotFound(id.to_string()))
        }
    }

    pub async fn save(&self, id: &str) -> Result<Graph, GraphBookError> {
        let graph = self.get_unmasked(id).await?;
        let stored = graph.clone();
        self.store
            .write(move |tx| store::graphs::put(tx, &stored))
            .await?;
        Ok(masked(&graph))
    }

    /// A copy of graph `id` under a new id, rooted at its node `root`.
    pub async fn copy(&self, id: &str, root: &str) -> Result<Graph, GraphBookError> {
        let mut graph = self.get_unmasked(id).await?;
        if !graph.nodes.iter().any(|n| n.id == root) {
            return Err(GraphBookError::NodeNotFound {
                graph: id.to_string(),
                node: root.to_string(),
            });
        }
        graph.id = new_id("graph-");
        graph.root = root.to_string();
        self.working().insert(graph.id.clone(), graph.clone());
        Ok(masked(&graph))
    }

    pub async fn node(&self, graph: &str, node: &str) -> Result<Node, GraphBookError> {
        let g = self.get(graph).await?;
        g.nodes
            .into_iter()
            .find(|n| n.id == node)
            .ok_or_else(|| GraphBookError::NodeNotFound {
                graph: graph.to_string(),
                node: node.to_string(),
            })
    }

    /// Adds a node, linked to the parents (and children) it names.
    pub async fn add_node(&self, graph_id: &str, node: Node) -> Result<Node, GraphBookError> {
        let id = graph_id.to_string();
        let added = self
            .edit(graph_id, move |graph| {
                let node = with_id(node);
                if graph.nodes.iter().any(|n| n.id == node.id) {
                    return Err(invalid(format!("node id {:?} is used twice", node.id)));
                }
                if graph.nodes.len() >= graph::MAX_NODES {
                    return Err(invalid(format!(
                        "the graph has {} nodes, the most allowed",
                        graph::MAX_NODES
                    )));
                }
                let known: Vec<String> = graph.nodes.iter().map(|n| n.id.clone()).collect();
                let node = checked_node(node, &known)?;
                let (parents, children) = (node.parents.clone(), node.children.clone());
                let node_id = node.id.clone();
                graph.nodes.push(Node {
                    parents: Vec::new(),
                    children: Vec::new(),
                    ..node
                });
                link(graph, &node_id, &parents, &children)?;
                Ok(node_id)
            })
            .await?;
        self.node(&id, &added).await
    }

    pub async fn remove_node(&self, graph_id: &str, node: &str) -> Result<(), GraphBookError> {
        let gid = graph_id.to_string();
        self.edit(graph_id, |graph| {
            if graph.root == node {
                return Err(GraphBookError::RootRemoval(node.to_string()));
            }
            let before = graph.nodes.len();
            graph.nodes.retain(|n| n.id != node);
            if graph.nodes.len() == before {
                return Err(GraphBookError::NodeNotFound {
                    graph: gid,
                    node: node.to_string(),
                });
            }
            for n in &mut graph.nodes {
                n.parents.retain(|p| p != node);
                n.children.retain(|c| c != node);
            }
            Ok(())
        })
        .await
    }

    /// Links a node to more parents and children (409 on a cycle).
    pub async fn attach(
        &self,
        graph_id: &str,
        node: &str,
        parents: Vec<String>,
        children: Vec<String>,
    ) -> Result<Node, GraphBookError> {
        let gid = graph_id.to_string();
        self.edit(graph_id, |graph| {
            if !graph.nodes.iter().any(|n| n.id == node) {
                return Err(GraphBookError::NodeNotFound {
                    graph: gid,
                    node: node.to_string(),
                });
            }
            link(graph, node, &parents, &children)
        })
        .await?;
        self.node(graph_id, node).await
    }

    /// A node's options (secrets masked) with the JSON Schema of each.
    pub async fn options(&self, graph: &str, node: &str) -> Result<Value, GraphBookError> {
        let n = self.node(graph, node).await?;
        Ok(serde_json::json!({
            "nodeID": n.id,
            "type": n.kind,
            "options": n.options,
            "schema": options_schema(n.kind),
        }))
    }

    /// Changes some options of a node; the result is checked as a whole (422 naming the
    /// option). A secret sent back masked keeps its value.
    pub async fn configure(
        &self,
        graph_id: &str,
        node: &str,
        changes: Map<String, Value>,
    ) -> Result<Node, GraphBookError> {
        self.update_node(graph_id, node, changes, Vec::new(), Vec::new())
            .await
    }

    /// configure and attach in one change: both happen, or neither.
    pub async fn update_node(
        &self,
        graph_id: &str,
        node: &str,
        changes: Map<String, Value>,
        parents: Vec<String>,
        children: Vec<String>,
    ) -> Result<Node, GraphBookError> {
        let gid = graph_id.to_string();
        self.edit(graph_id, |graph| {
            let n = graph
                .nodes
                .iter_mut()
                .find(|n| n.id == node)
                .ok_or_else(|| GraphBookError::NodeNotFound {
                    graph: gid,
                    node: node.to_string(),
                })?;
            let mut merged = n.options.clone();
            for (key, value) in changes {
                let masked_secret =
                    matches!(&value, Value::String(s) if crate::secrets::is_masked(s));
                if !masked_secret {
                    merged.insert(key, value);
                }
            }
            n.options = schema::validate_options(&n.id, n.kind, &merged).map_err(|e| {
                GraphBookError::InvalidOption {
                    node: e.node,
                    option: e.option,
                    reason: e.reason,
                }
            })?;
            link(graph, node, &parents, &children)
        })
        .await?;
        self.node(graph_id, node).await
    }

    /// The graph as a session started at `node` runs it: `node` (a fileRecorder) is the
    /// root, and every whole-graph rule applies.
    pub async fn session_graph(&self, graph_id: &str, node: &str) -> Result<Graph, GraphBookError> {
        let mut graph = self.get_unmasked(graph_id).await?;
        if !graph.nodes.iter().any(|n| n.id == node) {
            return Err(GraphBookError::NodeNotFound {
                graph: graph_id.to_string(),
                node: node.to_string(),
            });
        }
        graph.root = node.to_string();
        graph::validate(&graph).map_err(|e| invalid(e.to_string()))
    }
}

/// A node as given, checked: a valid id, its options complete and valid, its links to
/// nodes of `known`.
fn checked_node(node: Node, known: &[String]) -> Result<Node, GraphBookError> {
    if !graph::is_node_id(&node.id) {
        return Err(invalid(format!(
            "node id {:?}: use 1-64 of a-z, 0-9, - and _",
            node.id
        )));
    }
    for other in node.parents.iter().chain(&node.children) {
        if !known.contains(other) {
            return Err(invalid(format!(
                "node {} refers to unknown node {other:?}",
                node.id
            )));
        }
    }
    let options = schema::validate_options(&node.id, node.kind, &node.options).map_err(|e| {
        GraphBookError::InvalidOption {
            node: e.node,
            option: e.option,
            reason: e.reason,
        }
    })?;
    Ok(Node { options, ..node })
}

/// Adds edges parent → node and node → child, refusing one that closes a cycle.
fn link(
    graph: &mut Graph,
    node: &str,
    parents: &[String],
    children: &[String],
) -> Result<(), GraphBookError> {
    let exists = |g: &Graph, id: &str| g.nodes.iter().any(|n| n.id == id);
    let edges = parents
        .iter()
        .map(|p| (p.clone(), node.to_string()))
        .chain(children.iter().map(|c| (node.to_string(), c.clone())));
    for (from, to) in edges {
        for end in [&from, &to] {
            if !exists(graph, end) {
                return Err(invalid(format!("unknown node {end:?}")));
            }
        }
        if from == to || descendants(graph, &to).contains(&from) {
            return Err(GraphBookError::Cycle(from));
        }
        for n in &mut graph.nodes {
            if n.id == from && !n.children.contains(&to) {
                n.children.push(to.clone());
            }
            if n.id == to && !n.parents.contains(&from) {
                n.parents.push(from.clone());
            }
        }
    }
    Ok(())
}

fn masked(graph: &Graph) -> Graph {
    let mut shown = graph.clone();
    for node in &mut shown.nodes {
        node.options = schema::masked(node.kind, &node.options);
        node.services = services(node.kind)
            .iter()
            .map(|s| (*s).to_string())
            .collect();
    }
    shown
}

/// Services a processor type offers while a session runs.
pub(crate) fn services(kind: NodeType) -> &'static [&'static str] {
    match kind {
        NodeType::RtmpOutput => &["enable", "disable", "stats"],
        _ => &[],
    }
}

/// JSON Schema of a processor type's options.
pub(crate) fn options_schema(kind: NodeType) -> Value {
    let specs = schema::options(kind);
    let properties: Map<String, Value> = specs
        .iter()
        .map(|s| (s.name.to_string(), s.schema()))
        .collect();
    let required: Vec<&str> = specs
        .iter()
        .filter(|s| (s.default)().is_null())
        .map(|s| s.name)
        .collect();
    serde_json::json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

/// Every processor type with its options' schema and services.
pub(crate) fn processor_types() -> Vec<Value> {
    use NodeType::*;
    [
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
    ]
    .into_iter()
    .map(|kind| {
        serde_json::json!({
            "type": kind,
            "produces": graph::output(&Node {
                id: String::new(),
                kind,
                options: Map::new(),
                parents: Vec::new(),
                children: Vec::new(),
                services: Vec::new(),
            }).name(),
            "options": options_schema(kind),
            "services": services(kind),
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(v: Value) -> Node {
        serde_json::from_value(v).unwrap()
    }

    fn graph() -> Graph {
        Graph {
            id: "g".into(),
            name: String::new(),
            root: "rec".into(),
            nodes: vec![
                node(json!({"id": "cam", "type": "testVideo", "children": ["enc"]})),
                node(
                    json!({"id": "enc", "type": "h264Encoder", "parents": ["cam"], "children": ["rec"]}),
                ),
                node(json!({"id": "rec", "type": "fileRecorder", "parents": ["enc"]})),
            ],
        }
    }

    #[test]
    fn links_that_close_a_cycle_are_refused_and_change_nothing() {
        let mut g = graph();
        let before = g.clone();
        assert!(matches!(
            link(&mut g, "cam", &["rec".into()], &[]),
            Err(GraphBookError::Cycle(_))
        ));
        assert!(matches!(
            link(&mut g, "enc", &[], &["enc".into()]),
            Err(GraphBookError::Cycle(_))
        ));
        assert_eq!(g.nodes.len(), before.nodes.len());
        // Another path to a node is no cycle.
        link(&mut g, "rec", &["cam".into()], &[]).unwrap();
        assert!(descendants(&g, "cam").contains("rec"));
        let rec = g.nodes.iter().find(|n| n.id == "rec").unwrap();
        assert_eq!(rec.parents, ["enc", "cam"]);
    }

    #[tokio::test]
    async fn a_graph_grows_to_the_node_bound_and_no_further() {
        let dir = tempfile::tempdir().unwrap();
        let book = GraphBook::new(Store::open(&dir.path().join("g.db")).unwrap());
        let g = book
            .create(node(json!({"id": "rec", "type": "fileRecorder"})), None)
            .await
            .unwrap();
        for n in 1..graph::MAX_NODES {
            let added = book
                .add_node(
                    &g.id,
                    node(json!({"id": format!("cam{n}"), "type": "testVideo"})),
                )
                .await;
            assert!(added.is_ok(), "{n}: {added:?}");
        }
        let refused = book
            .add_node(&g.id, node(json!({"id": "one-more", "type": "testVideo"})))
            .await;
        assert!(
            matches!(refused, Err(GraphBookError::Invalid(_))),
            "{refused:?}"
        );
        assert_eq!(book.get(&g.id).await.unwrap().nodes.len(), graph::MAX_NODES);
    }

    #[test]
    fn nodes_are_checked_on_the_way_in() {
        assert!(checked_node(node(json!({"id": "Bad Id", "type": "testVideo"})), &[]).is_err());
        let err = checked_node(
            node(json!({"id": "enc", "type": "h264Encoder", "options": {"bitrate": -3}})),
            &[],
        )
        .unwrap_err();
        assert!(
            matches!(err, GraphBookError::InvalidOption { ref option, .. } if option == "bitrate")
        );
        let filled = checked_node(node(json!({"id": "enc", "type": "h264Encoder"})), &[]).unwrap();
        assert!(
            filled.options.contains_key("bitrate"),
            "defaults are filled in"
        );
        assert!(
            checked_node(
                node(json!({"id": "x", "type": "testVideo", "parents": ["nope"]})),
                &[]
            )
            .is_err()
        );
    }

    #[test]
    fn every_processor_type_is_described() {
        let types = processor_types();
        assert_eq!(types.len(), 13);
        let rtmp = types.iter().find(|t| t["type"] == "rtmpOutput").unwrap();
        assert_eq!(rtmp["services"], json!(["enable", "disable", "stats"]));
        assert!(rtmp["options"]["properties"]["streamKey"].is_object());
        assert!(
            rtmp["options"]["required"]
                .as_array()
                .unwrap()
                .contains(&json!("url"))
        );
    }
}
