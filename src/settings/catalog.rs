//! The known settings: their keys, types, defaults, descriptions and validation.
//!
//! Every setting the daemon reads is declared here and nowhere else. Validation is also
//! where client sloppiness is forgiven (`"true"` for a boolean, `"10"` for a number), so
//! the stored value always has the declared JSON type.

use serde_json::{Value, json};

/// What a setting's value must be.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// A string of 1..=`max_len` characters without control characters.
    Text {
        max_len: usize,
    },
    /// Like `Text`, or `null` for "not set".
    OptionalText {
        max_len: usize,
    },
    Bool,
    Integer {
        min: i64,
        max: i64,
    },
    /// An IANA time zone name such as `Europe/Berlin`.
    TimeZone,
}

/// Facts about the machine that some defaults depend on.
#[derive(Debug, Clone)]
pub struct SystemDefaults {
    pub hostname: String,
    pub timezone: String,
}

/// Declaration of one setting.
pub(crate) struct Definition {
    pub key: &'static str,
    pub description: &'static str,
    pub kind: Kind,
    default: fn(&SystemDefaults) -> Value,
}

impl Definition {
    pub(crate) fn default_value(&self, system: &SystemDefaults) -> Value {
        (self.default)(system)
    }

    /// JSON Schema of the values this setting accepts.
    pub(crate) fn schema(&self) -> Value {
        match self.kind {
            Kind::Text { max_len } => {
                json!({"type": "string", "minLength": 1, "maxLength": max_len})
            }
            Kind::OptionalText { max_len } => {
                json!({"type": ["string", "null"], "minLength": 1, "maxLength": max_len})
            }
            Kind::Bool => json!({"type": "boolean"}),
            Kind::Integer { min, max } => {
                json!({"type": "integer", "minimum": min, "maximum": max})
            }
            Kind::TimeZone => json!({"type": "string", "format": "iana-time-zone"}),
        }
    }

    /// Checks `value` and converts tolerated spellings to the declared type.
    pub(crate) fn coerce(&self, value: Value) -> Result<Value, String> {
        match self.kind {
            Kind::Text { max_len } => text(value, max_len).map(Value::String),
            Kind::OptionalText { max_len } => match value {
                Value::Null => Ok(Value::Null),
                other => text(other, max_len).map(Value::String),
            },
            Kind::Bool => match value {
                Value::Bool(b) => Ok(Value::Bool(b)),
                Value::String(s) if s == "true" => Ok(Value::Bool(true)),
                Value::String(s) if s == "false" => Ok(Value::Bool(false)),
                other => Err(format!("expected true or false, got {other}")),
            },
            Kind::Integer { min, max } => {
                let n = match &value {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.trim().parse::<i64>().ok(),
                    _ => None,
                }
                .ok_or_else(|| format!("expected an integer, got {value}"))?;
                if n < min || n > max {
                    return Err(format!("must be between {min} and {max}, got {n}"));
                }
                Ok(json!(n))
            }
            Kind::TimeZone => {
                let name = text(value, 64)?;
                name.parse::<chrono_tz::Tz>()
                    .map_err(|_| format!("unknown IANA time zone {name:?}"))?;
                Ok(Value::String(name))
            }
        }
    }
}

fn text(value: Value, max_len: usize) -> Result<String, String> {
    let s = match value {
        Value::String(s) => s,
        // A name like `101` arrives as a JSON number from a form; it is still a name.
        Value::Number(n) => n.to_string(),
        other => return Err(format!("expected a string, got {other}")),
    };
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Err("must not be empty".into());
    }
    if trimmed.chars().count() > max_len {
        return Err(format!("must be at most {max_len} characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(trimmed.to_string())
}

pub(crate) const UNIT_NAME: &str = "unitName";
pub(crate) const TIMEZONE: &str = "timezone";
pub(crate) const CONCURRENT_CAPTURES: &str = "concurrentCaptures";
pub(crate) const MEDIA_RETENTION_DAYS: &str = "mediaRetentionDays";
pub(crate) const DISK_RESERVE_MB: &str = "diskReserveMb";
pub(crate) const DEFAULT_TEMPLATE: &str = "defaultTemplate";
pub(crate) const PREVIEW_INTERVAL_MS: &str = "previewIntervalMs";
pub(crate) const PUBLIC_STATUS: &str = "publicStatus";
pub(crate) const UPLOAD_LIMIT_KBPS: &str = "uploadLimitKbps";
pub(crate) const PAUSE_UPLOADS_WHILE_CAPTURING: &str = "pauseUploadsWhileCapturing";
pub(crate) const CALENDAR_IMPORT_ALLOWED_HOSTS: &str = "calendarImportAllowedHosts";

/// Every known setting, in the order the API lists them.
pub(crate) static DEFINITIONS: &[Definition] = &[
    Definition {
        key: UNIT_NAME,
        description: "Name of this capture unit as people see it (e.g. the room).",
        kind: Kind::Text { max_len: 64 },
        default: |s| Value::String(s.hostname.clone()),
    },
    Definition {
        key: TIMEZONE,
        description: "IANA time zone of the unit; schedules and 'today' are in this zone.",
        kind: Kind::TimeZone,
        default: |s| Value::String(s.timezone.clone()),
    },
    Definition {
        key: CONCURRENT_CAPTURES,
        description: "Allow more than one capture session at a time.",
        kind: Kind::Bool,
        default: |_| Value::Bool(false),
    },
    Definition {
        key: MEDIA_RETENTION_DAYS,
        description: "Days to keep local media after every publisher confirmed it; 0 keeps it forever.",
        kind: Kind::Integer { min: 0, max: 3650 },
        default: |_| json!(30),
    },
    Definition {
        key: DISK_RESERVE_MB,
        description: "Free space (MiB) kept in reserve; recordings stop before eating into it.",
        kind: Kind::Integer {
            min: 0,
            max: 1_048_576,
        },
        default: |_| json!(2048),
    },
    Definition {
        key: DEFAULT_TEMPLATE,
        description: "Template used when a capture request names none (id or name), or null.",
        kind: Kind::OptionalText { max_len: 128 },
        default: |_| Value::Null,
    },
    Definition {
        key: PREVIEW_INTERVAL_MS,
        description: "How often preview images are refreshed, in milliseconds.",
        kind: Kind::Integer {
            min: 200,
            max: 60_000,
        },
        default: |_| json!(1000),
    },
    Definition {
        key: PUBLIC_STATUS,
        description: "Answer the status routes without credentials (for hallway displays).",
        kind: Kind::Bool,
        default: |_| Value::Bool(false),
    },
    Definition {
        key: UPLOAD_LIMIT_KBPS,
        description: "Upload bandwidth limit for publishing, in kilobits per second; 0 means no limit.",
        kind: Kind::Integer {
            min: 0,
            max: 10_000_000,
        },
        default: |_| json!(0),
    },
    Definition {
        key: PAUSE_UPLOADS_WHILE_CAPTURING,
        description: "Hold publishing uploads while a capture runs, so they never compete with it for disk or network.",
        kind: Kind::Bool,
        default: |_| Value::Bool(false),
    },
    Definition {
        key: CALENDAR_IMPORT_ALLOWED_HOSTS,
        description: "Hosts calendar import may fetch from although they are on a loopback, private or link-local address (e.g. an LMS on the campus network): names or addresses separated by commas, `*` for every host, or null for public addresses only.",
        kind: Kind::OptionalText { max_len: 1024 },
        default: |_| Value::Null,
    },
];

pub(crate) fn find(key: &str) -> Option<&'static Definition> {
    DEFINITIONS.iter().find(|d| d.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerated_spellings_become_the_declared_type() {
        assert_eq!(
            find(CONCURRENT_CAPTURES).unwrap().coerce(json!("true")),
            Ok(json!(true))
        );
        assert_eq!(
            find(DISK_RESERVE_MB).unwrap().coerce(json!(" 512 ")),
            Ok(json!(512))
        );
        assert_eq!(
            find(UNIT_NAME).unwrap().coerce(json!(101)),
            Ok(json!("101"))
        );
        assert_eq!(
            find(DEFAULT_TEMPLATE).unwrap().coerce(Value::Null),
            Ok(Value::Null)
        );
    }

    #[test]
    fn invalid_values_are_refused_with_a_reason() {
        let err = find(PREVIEW_INTERVAL_MS)
            .unwrap()
            .coerce(json!(5))
            .unwrap_err();
        assert!(err.contains("between 200 and 60000"), "{err}");
        assert!(
            find(TIMEZONE)
                .unwrap()
                .coerce(json!("Mars/Olympus"))
                .is_err()
        );
        assert!(
            find(TIMEZONE)
                .unwrap()
                .coerce(json!("Europe/Berlin"))
                .is_ok()
        );
        assert!(find(UNIT_NAME).unwrap().coerce(json!("  ")).is_err());
        assert!(find(UNIT_NAME).unwrap().coerce(json!("a\u{7}b")).is_err());
        assert!(
            find(CONCURRENT_CAPTURES)
                .unwrap()
                .coerce(json!("yes please"))
                .is_err()
        );
    }

    #[test]
    fn every_default_is_valid() {
        let system = SystemDefaults {
            hostname: "room-101".into(),
            timezone: "UTC".into(),
        };
        for def in DEFINITIONS {
            let default = def.default_value(&system);
            assert_eq!(def.coerce(default.clone()), Ok(default), "{}", def.key);
        }
    }
}
