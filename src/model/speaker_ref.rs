//! How a request names its speaker: not at all, by id, by name, or with a whole speaker
//! object. This module only reads the reference a client sent; looking it up among the
//! stored speakers (and validating an inline speaker's fields) is `speakers`' job, and it
//! never touches the store.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// A speaker reference as sent in a CaptureRequest, an Event or a package update.
///
/// The wire forms: `null`, `0`, `"0"`, `""` (blank) → [`SpeakerRef::None`]; a whole
/// number or a string of digits → [`SpeakerRef::Id`]; any other string → a
/// [`SpeakerRef::Name`] (trimmed); a JSON object → [`SpeakerRef::Inline`], kept as sent
/// for the speakers' rules to check.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum SpeakerRef {
    #[default]
    None,
    Id(i64),
    Name(String),
    Inline(Map<String, Value>),
}

/// A `speaker` value that is none of the accepted forms (a fraction, a boolean, a list).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a speaker id, a name or a speaker object")]
pub struct NotASpeakerRef {
    /// It was a number, but not a whole one that fits an id (the speakers say so in
    /// their own words).
    pub number: bool,
}

/// A speaker id written as digits (surrounding blanks already trimmed).
pub fn numeric_id(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl SpeakerRef {
    /// Reads a sent `speaker` value.
    pub fn parse(value: &Value) -> Result<SpeakerRef, NotASpeakerRef> {
        Ok(match value {
            Value::Null => SpeakerRef::None,
            Value::Number(n) => match n.as_i64() {
                Some(0) => SpeakerRef::None,
                Some(id) => SpeakerRef::Id(id),
                None => return Err(NotASpeakerRef { number: true }),
            },
            Value::String(s) => {
                let s = s.trim();
                match numeric_id(s) {
                    _ if s.is_empty() => SpeakerRef::None,
                    Some(0) => SpeakerRef::None,
                    Some(id) => SpeakerRef::Id(id),
                    None => SpeakerRef::Name(s.to_string()),
                }
            }
            Value::Object(map) => SpeakerRef::Inline(map.clone()),
            _ => return Err(NotASpeakerRef { number: false }),
        })
    }

    /// The id this reference names without looking anything up: 0 for none, `None` for a
    /// name or an object (only the stored speakers can tell which id those are).
    pub fn plain_id(&self) -> Option<i64> {
        match self {
            SpeakerRef::None => Some(0),
            SpeakerRef::Id(id) => Some(*id),
            SpeakerRef::Name(_) | SpeakerRef::Inline(_) => None,
        }
    }

    /// The reference in its wire form: what [`SpeakerRef::parse`] reads back as itself.
    pub fn to_value(&self) -> Value {
        match self {
            SpeakerRef::None => Value::from(0),
            SpeakerRef::Id(id) => Value::from(*id),
            SpeakerRef::Name(name) => Value::String(name.clone()),
            SpeakerRef::Inline(map) => Value::Object(map.clone()),
        }
    }
}

impl Serialize for SpeakerRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SpeakerRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SpeakerRef, D::Error> {
        let value = Value::deserialize(deserializer)?;
        SpeakerRef::parse(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_accepted_form_reads_as_its_reference() {
        let ada = json!({"name": "Ada", "email": "ada@example.org"});
        for (sent, expected) in [
            (json!(null), SpeakerRef::None),
            (json!(0), SpeakerRef::None),
            (json!("0"), SpeakerRef::None),
            (json!(""), SpeakerRef::None),
            (json!("  "), SpeakerRef::None),
            (json!(7), SpeakerRef::Id(7)),
            (json!(-3), SpeakerRef::Id(-3)),
            (json!("7"), SpeakerRef::Id(7)),
            (json!(" 42 "), SpeakerRef::Id(42)),
            (json!("Ada"), SpeakerRef::Name("Ada".into())),
            (
                json!(" Ada Lovelace "),
                SpeakerRef::Name("Ada Lovelace".into()),
            ),
            (json!("-3"), SpeakerRef::Name("-3".into())),
            (
                ada.clone(),
                SpeakerRef::Inline(ada.as_object().unwrap().clone()),
            ),
        ] {
            assert_eq!(SpeakerRef::parse(&sent), Ok(expected.clone()), "{sent}");
            let read: SpeakerRef = serde_json::from_value(sent.clone()).unwrap();
            assert_eq!(read, expected, "{sent}");
            // The wire form reads back as the same reference.
            let again: SpeakerRef =
                serde_json::from_value(serde_json::to_value(&read).unwrap()).unwrap();
            assert_eq!(again, expected, "{sent}");
        }
    }

    #[test]
    fn other_forms_are_refused() {
        assert_eq!(
            SpeakerRef::parse(&json!(1.5)),
            Err(NotASpeakerRef { number: true })
        );
        assert_eq!(
            SpeakerRef::parse(&json!(u64::MAX)),
            Err(NotASpeakerRef { number: true })
        );
        for bad in [json!(true), json!([1])] {
            assert!(SpeakerRef::parse(&bad).is_err(), "{bad}");
            assert!(serde_json::from_value::<SpeakerRef>(bad).is_err());
        }
    }

    #[test]
    fn only_none_and_ids_name_an_id_by_themselves() {
        assert_eq!(SpeakerRef::None.plain_id(), Some(0));
        assert_eq!(SpeakerRef::Id(4).plain_id(), Some(4));
        assert_eq!(SpeakerRef::Name("4x".into()).plain_id(), None);
        assert_eq!(SpeakerRef::Inline(Map::new()).plain_id(), None);
        assert_eq!(SpeakerRef::None.to_value(), json!(0));
    }
}
