//! Speakers: the people a recording or a scheduled event is of, with the CaptureCast
//! `Asset` (their picture) and `Link` objects.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// The `@class` of a CaptureCast Asset (`path, mimeType, fileAlias, description,
/// creationDate`).
pub const ASSET_CLASS: &str = "com.cattura.share.processor.data_provider.elements.Asset";
/// The `@class` of a CaptureCast Link (`title, url, description`).
pub const LINK_CLASS: &str = "com.cattura.share.processor.data_provider.elements.Link";

/// A speaker. Absent optional fields are `null`, so every answer has the same shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Speaker {
    pub id: i64,
    /// Unique ignoring case; capture requests and events may name the speaker by it.
    pub name: String,
    pub email: Option<String>,
    pub biography: Option<String>,
    pub credentials: Option<String>,
    /// An Asset object (`"@class"` is filled in when absent).
    #[schema(value_type = Option<Object>)]
    pub image: Option<Value>,
    /// Link objects (`"@class"` filled in when absent), each with an http(s) `url`.
    #[schema(value_type = Vec<Object>)]
    pub links: Vec<Value>,
}

/// The `speaker` of an object that names none: the vendor's Event documents 0.
pub fn no_speaker() -> Value {
    Value::from(0)
}

/// The `speaker` number of an object whose speaker snapshot is `info`: the speaker's id,
/// 0 when there is none or when it is an inline speaker the unit never stored.
pub fn speaker_number(info: Option<&Value>) -> Value {
    Value::from(
        info.and_then(|i| i.get("id"))
            .and_then(Value::as_i64)
            .unwrap_or(0),
    )
}

/// Brings a stored `speaker`/`speakerInfo` pair to the shape castd answers. Records written
/// before `speakerInfo` existed kept the whole snapshot in `speaker`; they read as if they
/// had been written now, so no stored event or package changes its meaning.
pub fn settle_stored(speaker: &mut Value, info: &mut Option<Value>) {
    if info.is_none() {
        match speaker {
            Value::Object(_) => *info = Some(std::mem::take(speaker)),
            // Early packages kept a name as it was typed.
            Value::String(name) if !name.trim().is_empty() => {
                *info = Some(serde_json::json!({ "name": name.trim() }));
            }
            _ => {}
        }
    }
    *speaker = speaker_number(info.as_ref());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_speakers_of_every_age_read_as_an_id_and_a_snapshot() {
        let settled = |speaker: Value, info: Option<Value>| {
            let (mut speaker, mut info) = (speaker, info);
            settle_stored(&mut speaker, &mut info);
            (speaker, info)
        };
        let ada = json!({"id": 3, "name": "Ada"});
        // Written before speakerInfo: the snapshot was in `speaker`.
        assert_eq!(settled(ada.clone(), None), (json!(3), Some(ada.clone())));
        assert_eq!(
            settled(json!({"name": "Guest"}), None),
            (json!(0), Some(json!({"name": "Guest"})))
        );
        assert_eq!(
            settled(json!(" Ada "), None),
            (json!(0), Some(json!({"name": "Ada"})))
        );
        assert_eq!(settled(Value::Null, None), (json!(0), None));
        // Written now.
        assert_eq!(settled(json!(3), Some(ada.clone())), (json!(3), Some(ada)));
        assert_eq!(settled(json!(0), None), (json!(0), None));
    }
}
