//! The ids of castd's objects, each its own type so that an event's id cannot be handed
//! where a package's is meant. They are written exactly as the bare value on the wire and
//! in the store (serde-transparent), so no answer and no stored row changes. This module
//! only names ids; it never makes them up (each part makes its own).

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> $name {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> $name {
                $name(id.to_string())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl From<$name> for serde_json::Value {
            fn from(id: $name) -> serde_json::Value {
                serde_json::Value::String(id.0)
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_id!(
    /// A media package's id, which is also the id of the capture session recording it.
    PackageId
);
text_id!(
    /// A template's id (`tpl-…`, or a built-in's name).
    TemplateId
);
text_id!(
    /// A scheduled event's id (`ev-…`).
    EventId
);
text_id!(
    /// A recurring event group's id (`grp-…`).
    GroupId
);

/// A stored speaker's id; 0 is the wire's "no speaker" and names none.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct SpeakerId(pub i64);

impl SpeakerId {
    /// The id of a stored speaker, `None` for 0 (no speaker).
    pub fn stored(id: i64) -> Option<SpeakerId> {
        (id != 0).then_some(SpeakerId(id))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for SpeakerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_written_as_their_bare_value() {
        let event = EventId::from("ev-1");
        assert_eq!(serde_json::to_value(&event).unwrap(), json!("ev-1"));
        let read: EventId = serde_json::from_value(json!("ev-1")).unwrap();
        assert_eq!(read, event);
        assert!(read == *"ev-1");
        assert_eq!(read.to_string(), "ev-1");
        assert_eq!(read.len(), 4, "reads as a str");
        let package: Option<PackageId> = serde_json::from_value(json!(null)).unwrap();
        assert_eq!(package, None);
        assert!(serde_json::from_value::<TemplateId>(json!(5)).is_err());
        let speaker: SpeakerId = serde_json::from_value(json!(3)).unwrap();
        assert_eq!(serde_json::to_value(speaker).unwrap(), json!(3));
    }

    #[test]
    fn speaker_zero_names_no_speaker() {
        assert_eq!(SpeakerId::stored(0), None);
        assert_eq!(SpeakerId::stored(4).map(SpeakerId::get), Some(4));
    }
}
