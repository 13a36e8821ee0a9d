//! How a package is described in Flow Capture: the name an asset is shown under, the
//! metadata `/update/asset` takes (the package's metadata with title, tags and speaker on
//! top) and the comment a marker becomes on the main asset's timeline.
//!
//! It owns the mapping from the package to request bodies only; it never sends anything.

use serde_json::{Value, json};

use crate::model::Marker;
use crate::publish::job::{Job, PackageFile};

/// The name shown in Flow Capture: the file's own name without package folders.
pub(super) fn display_name(file: &PackageFile) -> String {
    file.name
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or(&file.entry)
        .to_string()
}

/// `/update/asset` takes any key → value as metadata: the package's metadata, then title,
/// tags and speaker name on top (so a metadata key cannot hide them). Other outputs than
/// the main recording are titled with their entry name.
pub(super) fn asset_metadata(job: &Job, file: &PackageFile, main: bool, asset_id: &str) -> Value {
    let package = &job.package;
    let mut body = package.metadata.clone();
    let title = if main {
        package.title.clone()
    } else {
        format!("{} ({})", package.title, file.entry)
    };
    body.insert("id".into(), json!(asset_id));
    body.insert("title".into(), json!(title));
    body.insert("tags".into(), json!(package.tags));
    if let Some(name) = package.speaker_info.as_ref().and_then(speaker_name) {
        body.insert("speaker".into(), json!(name));
    }
    Value::Object(body)
}

/// `/create/comment` for a marker: its title (and description below it) at its time on
/// the main asset's timeline.
pub(super) fn marker_comment(marker: &Marker, main_asset: &str) -> Value {
    let mut description = marker.title.clone();
    if let Some(more) = marker.description.as_deref().filter(|d| !d.is_empty()) {
        description.push('\n');
        description.push_str(more);
    }
    json!({
        "asset_id": main_asset,
        "description": description,
        "is_reply": false,
        "has_marker": true,
        "marker_time": marker.time as f64 / 1000.0,
    })
}

/// A package speaker is a name, or a speaker object with a `name`.
fn speaker_name(speaker: &Value) -> Option<String> {
    let name = match speaker {
        Value::String(s) => s.as_str(),
        Value::Object(o) => o.get("name")?.as_str()?,
        _ => return None,
    };
    Some(name.trim().to_string()).filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speakers_are_names_or_objects_with_a_name() {
        assert_eq!(speaker_name(&json!("Ada")).as_deref(), Some("Ada"));
        assert_eq!(
            speaker_name(&json!({"id": 3, "name": "Grace"})).as_deref(),
            Some("Grace")
        );
        assert_eq!(speaker_name(&json!(3)), None);
        assert_eq!(speaker_name(&json!(" ")), None);
    }
}
