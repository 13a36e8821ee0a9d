//! What an Administrator configures for the Flow Capture publisher: the API root, the API
//! user and key, the folder and an optional batch, each checked with the field named in
//! the error.
//!
//! It owns the shape and the rules of the configuration only; it never talks to Flow
//! Capture, and it never lets the API key reach a log line.

use std::fmt;

use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Config {
    /// API root, e.g. `https://api.example.com/v2/`; endpoint paths are appended to it.
    pub base_url: String,
    pub email: String,
    pub api_key: String,
    /// The Flow Capture folder assets go to (API `project_id`).
    #[serde(rename = "projectID")]
    pub project_id: String,
    /// Batch inside the folder; without one assets land in "Untitled Batch".
    #[serde(default)]
    pub batch_name: Option<String>,
}

/// Hand-written so the API key never reaches a log line.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("email", &self.email)
            .field("api_key", &"<secret>")
            .field("project_id", &self.project_id)
            .field("batch_name", &self.batch_name)
            .finish()
    }
}

/// Validates a JSON config object; the Err text names the field (it becomes a 422).
pub(crate) fn parse(config: &Value) -> Result<Config, String> {
    let object = config
        .as_object()
        .ok_or("the flowcapture configuration must be a JSON object")?;
    let base_url = required_text(object, "baseUrl")?;
    let parsed = url::Url::parse(&base_url).map_err(|e| format!("baseUrl is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err("baseUrl must be an http:// or https:// URL with a host".into());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err("baseUrl must not carry a query or a fragment".into());
    }
    let email = required_text(object, "email")?;
    if !email.contains('@') || email.chars().any(char::is_whitespace) {
        return Err("email must be the API user's e-mail address".into());
    }
    let api_key = required_text(object, "apiKey")?;
    let project_id = required_text(object, "projectID")?;
    let batch_name = optional_text(object, "batchName")?;
    if batch_name.as_ref().is_some_and(|b| b.chars().count() > 256) {
        return Err("batchName must be at most 256 characters".into());
    }
    Ok(Config {
        base_url,
        email,
        api_key,
        project_id,
        batch_name,
    })
}

/// A non-empty string (ids may also be given as numbers).
fn required_text(object: &Map<String, Value>, key: &str) -> Result<String, String> {
    optional_text(object, key)?.ok_or_else(|| format!("{key} is required"))
}

fn optional_text(object: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(Value::Number(n)) if key.ends_with("ID") => Ok(Some(n.to_string())),
        Some(_) => Err(format!("{key} must be a string")),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use serde_json::json;

    use super::*;

    /// A valid configuration, for the tests beside it and those of the API client.
    pub(in crate::publish::flowcapture) fn config() -> Value {
        json!({"baseUrl": "https://fc.example/api/v2", "email": "cap@uni.example",
               "apiKey": "k3y", "projectID": 42, "batchName": "Week 1"})
    }

    #[test]
    fn configs_are_checked_field_by_field() {
        let parsed = parse(&config()).unwrap();
        assert_eq!(parsed.project_id, "42");
        assert_eq!(parsed.batch_name.as_deref(), Some("Week 1"));
        assert!(!format!("{parsed:?}").contains("k3y"));
        for (key, value, named) in [
            ("baseUrl", json!("ftp://x"), "baseUrl"),
            ("baseUrl", json!("https://x/?a=1"), "baseUrl"),
            ("email", json!("nobody"), "email"),
            ("apiKey", json!(""), "apiKey"),
            ("projectID", Value::Null, "projectID"),
            ("batchName", json!(3), "batchName"),
        ] {
            let mut bad = config();
            bad[key] = value;
            let err = parse(&bad).unwrap_err();
            assert!(err.contains(named), "{key}: {err}");
        }
    }
}
