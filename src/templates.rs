//! Capture templates: validation, storage, the defaults shipped in `assets/templates/`, and
//! write-only secrets inside node options.

use crate::graph::{self, GraphError, schema};
use crate::model::Template;
use crate::store::{self, Store, StoreError};

/// The largest template accepted, as JSON. The shipped ones are about 2 KiB; a graph at
/// [`graph::MAX_NODES`] with every option set stays far below this.
pub const MAX_TEMPLATE_BYTES: usize = 128 * 1024;

/// The default templates, installed on first start.
const DEFAULTS: &[&str] = &[
    include_str!("../assets/templates/lecture.json"),
    include_str!("../assets/templates/lecture-slides.json"),
    include_str!("../assets/templates/audio-only.json"),
];

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("no template {0:?}")]
    NotFound(String),
    #[error("invalid template: {0}")]
    Invalid(String),
    #[error("invalid graph: {0}")]
    Graph(#[from] GraphError),
    #[error(
        "template {other:?} is named {name:?}: send its id to change it, or choose another name"
    )]
    DuplicateName { name: String, other: String },
    #[error("template {0} is in use: {1}")]
    InUse(String, String),
    #[error("template {0} is recording now")]
    Recording(String),
    #[error("the template is {bytes} bytes of JSON; at most {limit} are allowed")]
    TooLarge { bytes: usize, limit: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Cheap, cloneable handle to the templates.
#[derive(Clone)]
pub struct Templates {
    store: Store,
}

/// A template id from a name: lowercase letters and digits joined by `-`.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(48).collect()
}

fn check_id(id: &str) -> Result<(), TemplateError> {
    if graph::is_node_id(id) {
        Ok(())
    } else {
        Err(TemplateError::Invalid(format!(
            "id {id:?}: use 1-64 of a-z, 0-9, - and _"
        )))
    }
}

/// The template as clients see it: node secrets masked.
pub fn masked(template: &Template) -> Template {
    let mut shown = template.clone();
    for node in &mut shown.graph.nodes {
        node.options = schema::masked(node.kind, &node.options);
    }
    shown
}

impl Templates {
    pub fn new(store: Store) -> Templates {
        Templates { store }
    }

    /// Installs the shipped templates when there are none at all (first start).
    pub async fn install_defaults(&self) -> Result<usize, TemplateError> {
        if self.store.read(store::templates::count).await? > 0 {
            return Ok(0);
        }
        for text in DEFAULTS {
            let template: Template = serde_json::from_str(text)
                .map_err(|e| TemplateError::Invalid(format!("shipped template: {e}")))?;
            self.save(template).await?;
        }
        Ok(DEFAULTS.len())
    }

    pub async fn list(&self) -> Result<Vec<Template>, TemplateError> {
        Ok(self.store.read(store::templates::list).await?)
    }

    /// A template by id or name, secrets included (for building pipelines).
    pub async fn get(&self, id_or_name: &str) -> Result<Template, TemplateError> {
        let key = id_or_name.to_string();
        self.store
            .read(move |c| store::templates::find(c, &key))
            .await?
            .ok_or_else(|| TemplateError::NotFound(id_or_name.to_string()))
    }

    /// Creates or updates a template: an `id` updates the template that has it (or creates
    /// one with that id); no `id` always creates one, with an id derived from the name that
    /// no template has yet, so saving never replaces a template nobody named. The graph is
    /// validated and stored normalised (defaults filled in, edges on both ends). A secret
    /// option sent back masked keeps its stored value.
    pub async fn save(&self, mut template: Template) -> Result<Template, TemplateError> {
        template.id = template.id.trim().to_string();
        if template.id.is_empty() {
            let base = slug(&template.name);
            template.id = self
                .free_id(if base.is_empty() { "template" } else { &base })
                .await?;
        }
        self.store_template(template).await
    }

    /// Updates the template `id_or_name` names with `template` (its `id` is ignored).
    pub async fn update(
        &self,
        id_or_name: &str,
        mut template: Template,
    ) -> Result<Template, TemplateError> {
        template.id = self.get(id_or_name).await?.id;
        self.store_template(template).await
    }

    /// `base`, or `base-2`, `base-3`, … : the first no template has.
    async fn free_id(&self, base: &str) -> Result<String, TemplateError> {
        let base = base.to_string();
        Ok(self
            .store
            .read(move |c| {
                let mut n = 1;
                loop {
                    let id = if n == 1 {
                        base.clone()
                    } else {
                        format!("{base}-{n}")
                    };
                    if store::templates::get(c, &id)?.is_none() {
                        return Ok::<_, StoreError>(id);
                    }
                    n += 1;
                }
            })
            .await?)
    }

    async fn store_template(&self, mut template: Template) -> Result<Template, TemplateError> {
        template.name = template.name.trim().to_string();
        if template.name.is_empty() || template.name.chars().count() > 128 {
            return Err(TemplateError::Invalid(
                "name must be 1-128 characters".into(),
            ));
        }
        check_id(&template.id)?;
        // Size first: everything after this costs in proportion to it.
        graph::check_size(&template.graph)?;
        let bytes = serde_json::to_vec(&template).map_or(usize::MAX, |json| json.len());
        if bytes > MAX_TEMPLATE_BYTES {
            return Err(TemplateError::TooLarge {
                bytes,
                limit: MAX_TEMPLATE_BYTES,
            });
        }
        let previous = {
            let id = template.id.clone();
            self.store
                .read(move |c| store::templates::get(c, &id))
                .await?
        };
        if let Some(previous) = &previous {
            keep_masked_secrets(&mut template, previous);
        }
        let mut normal = graph::validate(&template.graph)?;
        normal.id = template.id.clone();
        if normal.name.is_empty() {
            normal.name = template.name.clone();
        }
        template.graph = normal;
        if template
            .defaults
            .duration
            .is_some_and(|d| !(1000..=86_400_000).contains(&d))
        {
            return Err(TemplateError::Invalid(
                "defaults.duration must be 1 s to 24 h (in ms)".into(),
            ));
        }
        let stored = template.clone();
        self.store
            .write(move |tx| {
                if let Some(other) = store::templates::named(tx, &stored.name, &stored.id)? {
                    return Err(TemplateError::DuplicateName {
                        name: stored.name.clone(),
                        other,
                    });
                }
                store::templates::put(tx, &stored)?;
                Ok(())
            })
            .await?;
        Ok(template)
    }

    pub async fn delete(&self, id: &str) -> Result<(), TemplateError> {
        let key = id.to_string();
        let found = self
            .store
            .write(move |tx| {
                if store::schedule::template_scheduled(tx, &key)? {
                    return Err(TemplateError::InUse(
                        key.clone(),
                        "scheduled events use it".into(),
                    ));
                }
                Ok(store::templates::delete(tx, &key)?)
            })
            .await?;
        if found {
            Ok(())
        } else {
            Err(TemplateError::NotFound(id.to_string()))
        }
    }
}

/// Replaces masked secrets in `template` with the stored values of the same node.
fn keep_masked_secrets(template: &mut Template, previous: &Template) {
    for node in &mut template.graph.nodes {
        let Some(old) = previous
            .graph
            .nodes
            .iter()
            .find(|n| n.id == node.id && n.kind == node.kind)
        else {
            continue;
        };
        for spec in schema::options(node.kind).iter().filter(|s| s.is_secret()) {
            let sent = node
                .options
                .get(spec.name)
                .and_then(|v| v.as_str())
                .map(str::to_string);
            let kept = crate::secrets::keep_or_replace(
                sent,
                old.options.get(spec.name).and_then(|v| v.as_str()),
            );
            if let Some(value) = kept {
                node.options.insert(spec.name.to_string(), value.into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_templates_are_valid() {
        for text in DEFAULTS {
            let t: Template = serde_json::from_str(text).unwrap();
            graph::validate(&t.graph).unwrap_or_else(|e| panic!("{}: {e}", t.id));
            assert!(!slug(&t.name).is_empty());
        }
    }

    #[test]
    fn ids_come_from_names() {
        assert_eq!(slug("Lecture with Slides!"), "lecture-with-slides");
        assert_eq!(slug("  Raum 1.02  "), "raum-1-02");
    }

    #[tokio::test]
    async fn saving_validates_normalises_and_keeps_masked_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let templates = Templates::new(Store::open(&dir.path().join("t.db")).unwrap());
        assert_eq!(templates.install_defaults().await.unwrap(), 3);
        assert_eq!(
            templates.install_defaults().await.unwrap(),
            0,
            "only on first start"
        );
        let lecture = templates.get("Lecture").await.unwrap();
        assert_eq!(lecture.id, "lecture");
        let rec = lecture
            .graph
            .nodes
            .iter()
            .find(|n| n.id == "recording")
            .unwrap();
        assert_eq!(rec.parents.len(), 2, "edges are on both ends");

        let mut ipcam: Template = serde_json::from_value(serde_json::json!({
            "name": "IP camera",
            "graph": {"root": "rec", "nodes": [
                {"id": "cam", "type": "networkSource", "options": {"url": "rtsp://10.1.1.1/s", "username": "u", "password": "very-secret-password"}, "children": ["enc"]},
                {"id": "enc", "type": "h264Encoder", "children": ["rec"]},
                {"id": "rec", "type": "fileRecorder"}
            ]}
        }))
        .unwrap();
        let saved = templates.save(ipcam.clone()).await.unwrap();
        assert_eq!(saved.id, "ip-camera");
        let shown = masked(&saved);
        assert_eq!(shown.graph.nodes[0].options["password"], "••••word");
        templates.save(shown).await.unwrap();
        let stored = templates.get("ip-camera").await.unwrap();
        assert_eq!(
            stored.graph.nodes[0].options["password"],
            "very-secret-password"
        );

        ipcam.id = "other".into();
        assert!(matches!(
            templates.save(ipcam.clone()).await,
            Err(TemplateError::DuplicateName { other, .. }) if other == "ip-camera"
        ));
        // Without an id a save never lands on a template whose id the name derives to.
        ipcam.id = String::new();
        ipcam.name = "IP camera!".into();
        assert_eq!(templates.save(ipcam).await.unwrap().id, "ip-camera-2");
        let mut broken = lecture.clone();
        broken.graph.root = "nothing".into();
        assert!(matches!(
            templates.save(broken).await,
            Err(TemplateError::Graph(_))
        ));
    }
}
