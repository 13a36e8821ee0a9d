//! The descriptive fields a person types: a recording's or an event's title, its tags and
//! its free-form metadata. Each rule is written here once and every part that takes such a
//! field (capture requests, package updates, the schedule, markers) checks it through
//! these types, so the limits cannot drift apart again.
//!
//! What is *not* here: what an absent or blank value means. A capture without a title
//! takes its template's pattern, a scheduled event its template's name, and a package
//! update refuses a blank title; those are the callers' rules. This module never trims,
//! fills in or reorders anything: a value is either kept as it was sent or refused.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The most characters of a title (a lecture's name, a scheduled event's, a marker's).
pub const MAX_TITLE_CHARS: usize = 256;
/// The most tags one recording or event carries.
pub const MAX_TAGS: usize = 50;
/// The most characters of one tag.
pub const MAX_TAG_CHARS: usize = 64;
/// The most bytes of metadata, written as compact JSON.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// What a title must be.
pub const TITLE_RULE: &str = "at most 256 characters, no control characters";
/// What tags must be.
pub const TAGS_RULE: &str = "at most 50 tags of 1 to 64 characters, no control characters";
/// What metadata must be.
pub const METADATA_RULE: &str = "at most 64 KiB of JSON";

/// A value refused by one of the rules above: the field and the rule it breaks. Its text
/// is the rule itself, so the message a client reads says what would have been accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleBroken {
    pub field: &'static str,
    pub rule: &'static str,
}

impl fmt::Display for RuleBroken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rule)
    }
}

impl std::error::Error for RuleBroken {}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// A title: at most [`MAX_TITLE_CHARS`] characters and no control characters (a line
/// break in a title breaks file names, calendar lines and the control page). It may be
/// empty; what an empty title means is the caller's to say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Title(String);

impl Title {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl TryFrom<String> for Title {
    type Error = RuleBroken;

    fn try_from(value: String) -> Result<Title, RuleBroken> {
        if value.chars().count() > MAX_TITLE_CHARS || has_control(&value) {
            return Err(RuleBroken {
                field: "title",
                rule: TITLE_RULE,
            });
        }
        Ok(Title(value))
    }
}

impl TryFrom<&str> for Title {
    type Error = RuleBroken;

    fn try_from(value: &str) -> Result<Title, RuleBroken> {
        Title::try_from(value.to_string())
    }
}

impl From<Title> for String {
    fn from(title: Title) -> String {
        title.0
    }
}

impl Deref for Title {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Title {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Tags: at most [`MAX_TAGS`], each of 1 to [`MAX_TAG_CHARS`] characters without control
/// characters. Kept in the order sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Tags(Vec<String>);

impl Tags {
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

impl TryFrom<Vec<String>> for Tags {
    type Error = RuleBroken;

    fn try_from(tags: Vec<String>) -> Result<Tags, RuleBroken> {
        let tag_ok =
            |t: &String| !t.is_empty() && t.chars().count() <= MAX_TAG_CHARS && !has_control(t);
        if tags.len() > MAX_TAGS || !tags.iter().all(tag_ok) {
            return Err(RuleBroken {
                field: "tags",
                rule: TAGS_RULE,
            });
        }
        Ok(Tags(tags))
    }
}

impl From<Tags> for Vec<String> {
    fn from(tags: Tags) -> Vec<String> {
        tags.0
    }
}

impl Deref for Tags {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.0
    }
}

impl fmt::Display for Tags {
    /// The tags separated by commas, as a calendar's CATEGORIES or a log line shows them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(", "))
    }
}

/// Free-form metadata: a JSON object of at most [`MAX_METADATA_BYTES`] when written
/// compactly (it travels with every package answer and manifest).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Map<String, Value>", into = "Map<String, Value>")]
pub struct Metadata(Map<String, Value>);

impl Metadata {
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }
}

impl TryFrom<Map<String, Value>> for Metadata {
    type Error = RuleBroken;

    fn try_from(map: Map<String, Value>) -> Result<Metadata, RuleBroken> {
        let size = serde_json::to_string(&map).map_or(0, |s| s.len());
        if size > MAX_METADATA_BYTES {
            return Err(RuleBroken {
                field: "metadata",
                rule: METADATA_RULE,
            });
        }
        Ok(Metadata(map))
    }
}

impl From<Metadata> for Map<String, Value> {
    fn from(metadata: Metadata) -> Map<String, Value> {
        metadata.0
    }
}

impl Deref for Metadata {
    type Target = Map<String, Value>;

    fn deref(&self) -> &Map<String, Value> {
        &self.0
    }
}

impl fmt::Display for Metadata {
    /// The compact JSON object.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Value::Object(self.0.clone()).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn titles_are_refused_past_the_limit_or_with_control_characters() {
        let longest = "é".repeat(MAX_TITLE_CHARS);
        assert_eq!(Title::try_from(longest.as_str()).unwrap().as_str(), longest);
        assert!(Title::try_from("").unwrap().is_empty());
        assert!(Title::try_from("Physik 📹 101").is_ok());
        for bad in [
            "é".repeat(MAX_TITLE_CHARS + 1),
            "a\u{0}b".into(),
            "line\r\nbreak".into(),
            "tab\there".into(),
        ] {
            let refused = Title::try_from(bad.clone()).unwrap_err();
            assert_eq!(refused.field, "title", "{bad:?}");
            assert_eq!(refused.to_string(), TITLE_RULE);
        }
    }

    #[test]
    fn tags_are_refused_past_the_limits() {
        assert!(Tags::try_from(vec!["t".to_string(); MAX_TAGS]).is_ok());
        assert!(Tags::try_from(vec!["x".repeat(MAX_TAG_CHARS)]).is_ok());
        assert!(Tags::try_from(Vec::new()).unwrap().is_empty());
        for bad in [
            vec!["t".to_string(); MAX_TAGS + 1],
            vec!["x".repeat(MAX_TAG_CHARS + 1)],
            vec![String::new()],
            vec!["ok".into(), "a\nb".into()],
        ] {
            assert_eq!(Tags::try_from(bad).unwrap_err().field, "tags");
        }
    }

    #[test]
    fn metadata_is_refused_past_its_size() {
        let sized = |n: usize| {
            // {"k":"…"} is 8 bytes besides the value.
            let map = json!({"k": "v".repeat(n - 8)});
            map.as_object().unwrap().clone()
        };
        assert!(Metadata::try_from(sized(MAX_METADATA_BYTES)).is_ok());
        let refused = Metadata::try_from(sized(MAX_METADATA_BYTES + 1)).unwrap_err();
        assert_eq!(refused.field, "metadata");
    }

    #[test]
    fn serde_keeps_the_wire_form_and_refuses_what_the_rules_refuse() {
        let title: Title = serde_json::from_value(json!("Algebra")).unwrap();
        assert_eq!(serde_json::to_value(&title).unwrap(), json!("Algebra"));
        assert_eq!(format!("{title}"), "Algebra");
        let tags: Tags = serde_json::from_value(json!(["maths", "year 2"])).unwrap();
        assert_eq!(
            serde_json::to_value(&tags).unwrap(),
            json!(["maths", "year 2"])
        );
        assert_eq!(tags.to_string(), "maths, year 2");
        let metadata: Metadata = serde_json::from_value(json!({"room": "A1"})).unwrap();
        assert_eq!(metadata["room"], "A1");
        assert_eq!(metadata.to_string(), r#"{"room":"A1"}"#);
        assert_eq!(
            serde_json::to_value(&metadata).unwrap(),
            json!({"room": "A1"})
        );

        let err = serde_json::from_value::<Title>(json!("a\u{7}")).unwrap_err();
        assert_eq!(err.to_string(), TITLE_RULE);
        let err = serde_json::from_value::<Tags>(json!([""])).unwrap_err();
        assert_eq!(err.to_string(), TAGS_RULE);
        let err = serde_json::from_value::<Metadata>(json!({"k": "v".repeat(70_000)})).unwrap_err();
        assert_eq!(err.to_string(), METADATA_RULE);
        // A wrong type is refused by serde before any rule is read.
        let err = serde_json::from_value::<Tags>(json!([[1]])).unwrap_err();
        assert_ne!(err.to_string(), TAGS_RULE);
    }
}
