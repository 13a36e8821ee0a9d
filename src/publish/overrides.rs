//! What a caller below Administrator may change in a publisher's configuration, and how
//! secrets that came with a capture request are kept out of sight.
//!
//! The stored configurations (and a template's `publishing` list) are an Administrator's:
//! they name the servers, the credentials and the folders. Anyone allowed to start a
//! capture can send `publishingOverrides`, and a Content manager can test a configuration
//! or publish with one; neither may send a stored secret, the recording or a file
//! somewhere else. So each publisher has a short list of harmless keys (a workflow, a
//! batch, a folder or prefix *below* the configured one); overrides from a lower role may
//! set only those, and a lower role's test or publish configuration that changes anything
//! else does not inherit the stored secrets: it must bring its own.
//!
//! Requests are checked when they are made, and stored overrides again when a package is
//! published, so a package recorded before these rules (or stored by any other way) cannot
//! redirect an upload either.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use super::{PublishError, config, flowcapture, local, opencast, publishers, s3};
use crate::model::PublishPlatformConfiguration;
use crate::secrets;

/// Keys a caller below Administrator may set, per publisher. `path` (local) and `prefix`
/// (s3) only to the configured value or below it.
pub(crate) fn harmless_keys(publisher: &str) -> &'static [&'static str] {
    match publisher {
        local::ID => &["path", "subfolder"],
        s3::ID => &["prefix"],
        flowcapture::ID => &["batchName"],
        opencast::ID => &["workflowID", "workflowConfig"],
        _ => &[],
    }
}

fn is_secret(publisher: &str, key: &str) -> bool {
    publishers::secrets(publisher).contains(&key)
}

/// `publishingOverrides` as publisher id → config keys, as a request must give them: an
/// object keyed by publisher id (each value the keys, or `{"config": {…}}`), or a list of
/// PublishPlatformConfiguration, naming known publishers only.
pub(crate) fn parse(
    value: Option<&Value>,
) -> Result<BTreeMap<String, Map<String, Value>>, PublishError> {
    let invalid = |reason: String| Err(PublishError::InvalidOverrides(reason));
    let mut out = BTreeMap::new();
    let mut add = |id: String, config: Map<String, Value>| {
        if publishers::is_publisher(&id) {
            out.insert(id, config);
            Ok(())
        } else {
            Err(PublishError::InvalidOverrides(format!(
                "no publisher {id:?}; publishers: {}",
                publishers::IDS.join(", ")
            )))
        }
    };
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (id, v) in map {
                let Some(config) = v.as_object() else {
                    return invalid(format!("the overrides of {id:?} must be an object"));
                };
                let config = match config.get("config") {
                    Some(Value::Object(inner)) => inner,
                    Some(_) => return invalid(format!("{id}.config must be an object")),
                    None => config,
                };
                add(id.clone(), config.clone())?;
            }
        }
        Some(Value::Array(list)) => {
            for v in list {
                match serde_json::from_value::<PublishPlatformConfiguration>(v.clone()) {
                    Ok(c) => add(c.publisher_id, c.config)?,
                    Err(e) => return invalid(format!("a list entry: {e}")),
                }
            }
        }
        Some(_) => {
            return invalid(
                "an object keyed by publisher id, or a list of PublishPlatformConfiguration".into(),
            );
        }
    }
    Ok(out)
}

/// The same, forgiving, for overrides already stored on a package: what cannot be read is
/// left out rather than stopping the package from being published.
pub(crate) fn read(value: Option<&Value>) -> HashMap<String, Map<String, Value>> {
    let mut out = HashMap::new();
    match value {
        Some(Value::Object(map)) => {
            for (id, v) in map {
                if let Some(config) = v.as_object() {
                    let config = config
                        .get("config")
                        .and_then(Value::as_object)
                        .unwrap_or(config);
                    out.insert(id.clone(), config.clone());
                }
            }
        }
        Some(Value::Array(list)) => {
            for v in list {
                if let Ok(c) = serde_json::from_value::<PublishPlatformConfiguration>(v.clone()) {
                    out.insert(c.publisher_id, c.config);
                }
            }
        }
        _ => {}
    }
    out
}

/// Checks one publisher's overrides from a caller below Administrator against `base`, the
/// configuration the recording would be published with (stored ← template).
pub(crate) fn check(
    publisher: &str,
    base: &Map<String, Value>,
    over: &Map<String, Value>,
) -> Result<(), PublishError> {
    over.iter()
        .try_for_each(|(key, value)| allowed(publisher, base, key, value))
}

/// Whether a lower role may lay `key: value` over `base`.
fn allowed(
    publisher: &str,
    base: &Map<String, Value>,
    key: &str,
    value: &Value,
) -> Result<(), PublishError> {
    // No change is harmless: a client echoing the configuration back.
    if base.get(key) == Some(value) {
        return Ok(());
    }
    // A masked secret means "keep the configured one".
    if is_secret(publisher, key) && value.as_str().is_some_and(secrets::is_masked) {
        return Ok(());
    }
    if !harmless_keys(publisher).contains(&key) {
        return Err(PublishError::OverrideForbidden {
            publisher: publisher.to_string(),
            key: key.to_string(),
        });
    }
    match (publisher, key) {
        (local::ID, "path") => folder_below(base, value).map(|_| ()),
        (s3::ID, "prefix") => prefix_below(base, value),
        _ => Ok(()),
    }
}

fn outside(publisher: &str, key: &str, reason: impl Into<String>) -> PublishError {
    PublishError::OutsideConfigured {
        publisher: publisher.to_string(),
        key: key.to_string(),
        reason: reason.into(),
    }
}

/// The part of a requested local `path` below the configured folder: no `.` or `..`, and
/// no link on the way down (a link may lead anywhere; the publisher does not follow one).
fn folder_below(base: &Map<String, Value>, requested: &Value) -> Result<PathBuf, PublishError> {
    let refuse = |reason: &str| outside(local::ID, "path", reason);
    let Some(root) = base.get("path").and_then(Value::as_str) else {
        return Err(refuse("no folder is configured for the local publisher"));
    };
    let Some(requested) = requested.as_str() else {
        return Err(refuse("path must be a folder below the configured one"));
    };
    let requested_path = Path::new(requested);
    if requested.chars().any(char::is_control)
        || !requested_path.is_absolute()
        || requested_path
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(refuse(
            "path must be an absolute folder path without `.` or `..`",
        ));
    }
    let Ok(relative) = requested_path.strip_prefix(root) else {
        return Err(refuse(
            "path must be the configured folder or a folder below it",
        ));
    };
    let mut walked = PathBuf::from(root);
    for part in relative.components() {
        walked.push(part);
        match std::fs::symlink_metadata(&walked) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(refuse("a link on the way below the configured folder"));
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(relative.to_path_buf())
}

/// An S3 `prefix` at or below the configured one.
fn prefix_below(base: &Map<String, Value>, requested: &Value) -> Result<(), PublishError> {
    let root = base
        .get("prefix")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim_matches('/');
    let Some(requested) = requested.as_str() else {
        return Err(outside(
            s3::ID,
            "prefix",
            "prefix must be a text below the configured one",
        ));
    };
    let requested = requested.trim_matches('/');
    let below = root.is_empty() || requested == root || requested.starts_with(&format!("{root}/"));
    let clean = !requested
        .split('/')
        .any(|p| p == ".." || p == "." || p.chars().any(char::is_control));
    if below && clean {
        Ok(())
    } else {
        Err(outside(
            s3::ID,
            "prefix",
            format!("prefix must be {root:?} or below it, without `.` or `..`"),
        ))
    }
}

/// A local `path` below the configured folder turned into the configured folder and a
/// subfolder pattern, so the publisher walks down from the folder an Administrator chose
/// and refuses links on the way instead of starting wherever the request pointed.
fn confine_local(
    base: &Map<String, Value>,
    mut over: Map<String, Value>,
) -> Result<Map<String, Value>, PublishError> {
    let Some(requested) = over.get("path").cloned() else {
        return Ok(over);
    };
    if base.get("path") == Some(&requested) {
        over.remove("path");
        return Ok(over);
    }
    let relative = folder_below(base, &requested)?;
    over.remove("path");
    let relative = relative.to_string_lossy().trim_matches('/').to_string();
    if relative.is_empty() {
        return Ok(over);
    }
    let pattern = over
        .get("subfolder")
        .or_else(|| base.get("subfolder"))
        .and_then(Value::as_str)
        .unwrap_or("{id}")
        .to_string();
    over.insert(
        "subfolder".into(),
        Value::String(format!("{relative}/{pattern}")),
    );
    Ok(over)
}

/// What of a package's stored overrides still applies when they did not come from an
/// Administrator: the keys `check` allows (a local path below the folder made a
/// subfolder). Returns them, and the names of the keys left out.
pub(crate) fn harmless_part(
    publisher: &str,
    base: &Map<String, Value>,
    over: &Map<String, Value>,
) -> (Map<String, Value>, Vec<String>) {
    let mut kept = Map::new();
    let mut dropped = Vec::new();
    for (key, value) in over {
        if allowed(publisher, base, key, value).is_ok() {
            kept.insert(key.clone(), value.clone());
        } else {
            dropped.push(key.clone());
        }
    }
    if publisher == local::ID {
        match confine_local(base, kept.clone()) {
            Ok(confined) => kept = confined,
            Err(_) => {
                kept.remove("path");
                dropped.push("path".into());
            }
        }
    }
    (kept, dropped)
}

/// The configuration a caller below Administrator tests or publishes with: `changes` laid
/// over `stored`. Harmless keys change freely (a local path only below the folder: 403
/// `publish.outside_configured` else). Any other change, such as a server address, means
/// the stored secrets stay behind: every secret must come with the changes (403
/// `publish.secret_required` else), so they can never be sent to a server the caller chose.
pub(crate) fn lay_over_for_lower_role(
    publisher: &str,
    stored: &Map<String, Value>,
    changes: &Map<String, Value>,
) -> Result<Map<String, Value>, PublishError> {
    let changes = if publisher == local::ID {
        confine_local(stored, changes.clone())?
    } else {
        changes.clone()
    };
    let changed: Vec<String> = changes
        .iter()
        .filter(|(key, value)| {
            !is_secret(publisher, key) && allowed(publisher, stored, key, value).is_err()
        })
        .map(|(key, _)| key.clone())
        .collect();
    if !changed.is_empty() {
        let missing: Vec<String> = publishers::secrets(publisher)
            .iter()
            .filter(|secret| {
                !changes
                    .get(**secret)
                    .and_then(Value::as_str)
                    .is_some_and(|v| !v.is_empty() && !secrets::is_masked(v))
            })
            .map(|secret| (*secret).to_string())
            .collect();
        if !missing.is_empty() {
            return Err(PublishError::SecretRequired {
                publisher: publisher.to_string(),
                changed,
                secrets: missing,
            });
        }
    }
    Ok(config::merge(publisher, stored, &changes))
}

/// Every secret key of every publisher: overrides may come in any shape, so secrets are
/// found by name wherever they are.
fn secret_names() -> impl Iterator<Item = &'static str> {
    publishers::IDS
        .iter()
        .flat_map(|id| publishers::secrets(id).iter().copied())
}

/// Rewrites every secret (by key name, at any depth) with `hide`; `None` removes it.
fn hide_secrets(value: &Value, hide: &dyn Fn(&str) -> Option<Value>) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter_map(|(key, v)| match v {
                    Value::String(s) if secret_names().any(|n| n == key) && !s.is_empty() => {
                        hide(s).map(|shown| (key.clone(), shown))
                    }
                    other => Some((key.clone(), hide_secrets(other, hide))),
                })
                .collect(),
        ),
        Value::Array(list) => Value::Array(list.iter().map(|v| hide_secrets(v, hide)).collect()),
        other => other.clone(),
    }
}

/// Overrides as clients see them: secrets masked like stored configurations.
pub(crate) fn masked(value: &Value) -> Value {
    hide_secrets(value, &|s| Some(Value::String(secrets::mask(s))))
}

/// Overrides as a manifest carries them: secrets left out.
pub(crate) fn without_secrets(value: &Value) -> Value {
    hide_secrets(value, &|_| None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn code(e: PublishError) -> &'static str {
        match e {
            PublishError::OverrideForbidden { .. } => "forbidden",
            PublishError::OutsideConfigured { .. } => "outside",
            PublishError::SecretRequired { .. } => "secret",
            PublishError::InvalidOverrides(_) => "invalid",
            _ => "other",
        }
    }

    #[test]
    fn overrides_come_keyed_or_as_a_list_and_bad_shapes_are_named() {
        let keyed = parse(Some(&json!({"s3": {"prefix": "x"}}))).unwrap();
        assert_eq!(keyed["s3"]["prefix"], "x");
        let nested = parse(Some(&json!({"opencast": {"config": {"workflowID": "w"}}}))).unwrap();
        assert_eq!(nested["opencast"]["workflowID"], "w");
        let listed = parse(Some(
            &json!([{"publisherID": "local", "config": {"path": "/mnt"}}]),
        ))
        .unwrap();
        assert_eq!(listed["local"]["path"], "/mnt");
        for bad in [
            json!("nonsense"),
            json!({"youtube": {}}),
            json!({"s3": 1}),
            json!([{"config": {}}]),
        ] {
            assert_eq!(code(parse(Some(&bad)).unwrap_err()), "invalid", "{bad}");
        }
        assert!(read(Some(&json!("nonsense"))).is_empty());
        assert_eq!(
            read(Some(&json!({"s3": {"prefix": "x"}})))["s3"]["prefix"],
            "x"
        );
    }

    #[test]
    fn lower_roles_may_set_only_harmless_keys() {
        let oc =
            obj(json!({"url": "https://oc", "username": "u", "password": "p", "workflowID": "a"}));
        assert!(
            check(
                "opencast",
                &oc,
                &obj(json!({"workflowID": "b", "workflowConfig": {"x": "1"}}))
            )
            .is_ok()
        );
        // Echoing the configuration back, or a masked secret, changes nothing.
        assert!(
            check(
                "opencast",
                &oc,
                &obj(json!({"url": "https://oc", "password": "••••"}))
            )
            .is_ok()
        );
        for bad in [
            json!({"url": "http://attacker"}),
            json!({"username": "other"}),
            json!({"password": "guess"}),
        ] {
            assert_eq!(
                code(check("opencast", &oc, &obj(bad.clone())).unwrap_err()),
                "forbidden",
                "{bad}"
            );
        }
        let fc = obj(json!({"baseUrl": "https://fc/api", "projectID": "1"}));
        assert!(check("flowcapture", &fc, &obj(json!({"batchName": "Week 1"}))).is_ok());
        assert!(check("flowcapture", &fc, &obj(json!({"baseUrl": "http://x"}))).is_err());
        assert!(check("flowcapture", &fc, &obj(json!({"projectID": "2"}))).is_err());
        let s3 = obj(json!({"endpoint": "https://s3", "bucket": "b", "prefix": "lectures"}));
        assert!(check("s3", &s3, &obj(json!({"prefix": "lectures/physics"}))).is_ok());
        assert!(check("s3", &s3, &obj(json!({"prefix": "/lectures/"}))).is_ok());
        for bad in [
            json!("other"),
            json!("lectures-x"),
            json!("lectures/../x"),
            json!(null),
        ] {
            assert_eq!(
                code(check("s3", &s3, &obj(json!({"prefix": bad}))).unwrap_err()),
                "outside"
            );
        }
        assert_eq!(
            code(check("s3", &s3, &obj(json!({"bucket": "c"}))).unwrap_err()),
            "forbidden"
        );
    }

    #[test]
    fn a_local_path_must_stay_below_the_folder_without_links() {
        let dir = tempfile::tempdir().unwrap();
        let share = dir.path().join("share");
        std::fs::create_dir_all(share.join("term1")).unwrap();
        std::os::unix::fs::symlink(dir.path(), share.join("link")).unwrap();
        let base = obj(json!({"path": share}));
        let below = |p: PathBuf| check("local", &base, &obj(json!({"path": p})));
        assert!(below(share.join("term1")).is_ok());
        assert!(below(share.join("term1/new/deeper")).is_ok());
        for bad in [
            PathBuf::from("/etc"),
            dir.path().to_path_buf(),
            share.join("../elsewhere"),
            share.join("term1/../../x"),
            share.join("link"),
            share.join("link/inside"),
            PathBuf::from("relative"),
        ] {
            assert_eq!(
                code(below(bad.clone()).unwrap_err()),
                "outside",
                "{}",
                bad.display()
            );
        }
        // Published, the path below becomes a subfolder of the configured folder.
        let (kept, dropped) = harmless_part(
            "local",
            &base,
            &obj(
                json!({"path": share.join("term1"), "subfolder": "{date}/{id}", "enabled": false}),
            ),
        );
        assert_eq!(kept, obj(json!({"subfolder": "term1/{date}/{id}"})));
        assert_eq!(dropped, vec!["enabled".to_string()]);
        let (kept, dropped) = harmless_part(
            "local",
            &base,
            &obj(json!({"path": "/etc", "subfolder": "x"})),
        );
        assert_eq!(kept, obj(json!({"subfolder": "x"})));
        assert_eq!(dropped, vec!["path".to_string()]);
    }

    #[test]
    fn a_changed_server_leaves_the_stored_secrets_behind() {
        let stored = obj(
            json!({"url": "https://oc", "username": "u", "password": "stored-pw", "workflowID": "a"}),
        );
        let same = lay_over_for_lower_role(
            "opencast",
            &stored,
            &obj(json!({"workflowID": "b", "password": "••••"})),
        )
        .unwrap();
        assert_eq!(same["password"], "stored-pw");
        assert_eq!(same["workflowID"], "b");
        let err =
            lay_over_for_lower_role("opencast", &stored, &obj(json!({"url": "http://attacker"})))
                .unwrap_err();
        assert_eq!(code(err), "secret");
        let masked = lay_over_for_lower_role(
            "opencast",
            &stored,
            &obj(json!({"url": "http://attacker", "password": "••••"})),
        )
        .unwrap_err();
        assert_eq!(code(masked), "secret");
        let own = lay_over_for_lower_role(
            "opencast",
            &stored,
            &obj(json!({"url": "http://mine", "password": "mine"})),
        )
        .unwrap();
        assert_eq!(own["password"], "mine");
        assert_eq!(own["url"], "http://mine");
        let s3 = obj(
            json!({"endpoint": "https://s3", "bucket": "b", "accessKey": "A", "secretKey": "S"}),
        );
        assert_eq!(
            code(lay_over_for_lower_role("s3", &s3, &obj(json!({"bucket": "other"}))).unwrap_err()),
            "secret"
        );
        let local = obj(json!({"path": "/srv/share"}));
        assert_eq!(
            code(
                lay_over_for_lower_role("local", &local, &obj(json!({"path": "/etc"})))
                    .unwrap_err()
            ),
            "outside"
        );
    }

    #[test]
    fn secrets_are_masked_for_clients_and_left_out_of_manifests() {
        let over = json!({"opencast": {"url": "u", "password": "oc-password-1234"},
                          "list": [{"publisherID": "s3", "config": {"secretKey": "s3-secret-key-9876"}}],
                          "flowcapture": {"config": {"apiKey": "short"}}});
        let shown = masked(&over);
        assert_eq!(shown["opencast"]["password"], "••••1234");
        assert_eq!(shown["opencast"]["url"], "u");
        assert_eq!(shown["list"][0]["config"]["secretKey"], "••••9876");
        assert_eq!(shown["flowcapture"]["config"]["apiKey"], "••••");
        let manifest = without_secrets(&over).to_string();
        for secret in ["oc-password", "s3-secret", "short", "••••"] {
            assert!(!manifest.contains(secret), "{manifest}");
        }
        assert!(manifest.contains("\"url\""));
    }
}
