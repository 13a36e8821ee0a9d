//! Publisher configurations: merging layers (stored ← template ← request), keeping secrets
//! write-only (masked on the way out, kept when a client sends the mask or leaves them out).

use serde_json::{Map, Value};

use super::publishers;
use crate::secrets;

/// `over` laid on `base`: its keys replace the base's, `null` removes a key, and a secret
/// sent masked or not at all keeps the base's value.
pub(crate) fn merge(
    publisher: &str,
    base: &Map<String, Value>,
    over: &Map<String, Value>,
) -> Map<String, Value> {
    let secret_keys = publishers::secrets(publisher);
    let mut merged = base.clone();
    for (key, value) in over {
        match value {
            Value::Null => {
                merged.remove(key);
            }
            Value::String(s) if secret_keys.contains(&key.as_str()) && secrets::is_masked(s) => {}
            _ => {
                merged.insert(key.clone(), value.clone());
            }
        }
    }
    merged
}

/// The configuration as clients see it: secrets masked.
pub(crate) fn masked(publisher: &str, config: &Map<String, Value>) -> Map<String, Value> {
    let secret_keys = publishers::secrets(publisher);
    config
        .iter()
        .map(|(k, v)| {
            let shown = match v {
                Value::String(s) if secret_keys.contains(&k.as_str()) && !s.is_empty() => {
                    Value::String(secrets::mask(s))
                }
                other => other.clone(),
            };
            (k.clone(), shown)
        })
        .collect()
}

/// Whether a stored configuration switches its publisher off for automatic publishing.
pub(crate) fn disabled(config: &Map<String, Value>) -> bool {
    config.get("enabled") == Some(&Value::Bool(false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn masked_or_missing_secrets_keep_the_stored_one() {
        let stored =
            obj(json!({"bucket": "a", "secretKey": "s3cr3t-very-long-key", "prefix": "x"}));
        let shown = masked("s3", &stored);
        assert_eq!(shown["secretKey"], "••••-key");
        let merged = merge(
            "s3",
            &stored,
            &obj(json!({"bucket": "b", "secretKey": shown["secretKey"], "prefix": null})),
        );
        assert_eq!(merged["bucket"], "b");
        assert_eq!(merged["secretKey"], "s3cr3t-very-long-key");
        assert!(!merged.contains_key("prefix"));
        let replaced = merge("s3", &stored, &obj(json!({"secretKey": "new"})));
        assert_eq!(replaced["secretKey"], "new");
    }
}
