//! A unit setting as the API shows it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One setting with its current value, default, and the JSON Schema its values must meet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Setting {
    pub key: String,
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
    #[schema(value_type = Object)]
    pub default: serde_json::Value,
    pub description: String,
    #[schema(value_type = Object)]
    pub schema: serde_json::Value,
}
