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
