//! A serde `Deserializer` over request parameters that forgives sloppy clients.
//!
//! A parameter arrives as form text or as a JSON value. The target type decides how it is
//! read: a boolean accepts `true`, `"true"`, `1` or `"1"`; a number accepts `5` or `"5"`; a
//! string accepts a JSON string, a bare word or a number; a struct, map or array accepts a
//! JSON value or form text holding JSON. The same rules apply at every depth, so
//! `captureRequest={"publishing":"false"}` works without per-field annotations.
//!
//! Errors say which kind of mistake it was (missing, malformed JSON, wrong value) so the
//! API can answer 400 or 422 with the right code.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// One parameter value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lenient {
    /// Form or query text, not yet interpreted.
    Text(String),
    /// A JSON value (from a JSON body or inside a JSON parameter).
    Json(Value),
}

/// What went wrong, without the location (serde_path_to_error adds that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// A required field or parameter is absent.
    Missing(String),
    /// Text that is meant to be JSON does not parse.
    Malformed(String),
    /// A value of the wrong type or out of range.
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Error(pub ErrorKind);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            ErrorKind::Missing(field) => write!(f, "missing field `{field}`"),
            ErrorKind::Malformed(msg) | ErrorKind::Invalid(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(ErrorKind::Invalid(msg.to_string()))
    }

    fn missing_field(field: &'static str) -> Self {
        Error(ErrorKind::Missing(field.to_string()))
    }
}

fn invalid(expected: &str, got: &Lenient) -> Error {
    let shown = match got {
        Lenient::Text(s) => format!("{s:?}"),
        Lenient::Json(v) => {
            let mut s = v.to_string();
            if s.len() > 60 {
                s.truncate(s.floor_char_boundary(60));
                s.push('…');
            }
            s
        }
    };
    Error(ErrorKind::Invalid(format!(
        "expected {expected}, got {shown}"
    )))
}

fn looks_like_json(s: &str) -> bool {
    matches!(s.trim_start().as_bytes().first(), Some(b'{' | b'['))
}

impl Lenient {
    /// The value as JSON when the target needs structure; plain text that is not JSON is
    /// returned as a JSON string.
    fn into_json(self) -> Result<Value, Error> {
        match self {
            Lenient::Json(v) => Ok(v),
            Lenient::Text(s) => match serde_json::from_str(&s) {
                Ok(v) => Ok(v),
                Err(e) if looks_like_json(&s) => {
                    Err(Error(ErrorKind::Malformed(format!("malformed JSON: {e}"))))
                }
                Err(_) => Ok(Value::String(s)),
            },
        }
    }

    fn as_bool(&self) -> Option<bool> {
        let word = |s: &str| match s.trim() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        };
        match self {
            Lenient::Text(s) | Lenient::Json(Value::String(s)) => word(s),
            Lenient::Json(Value::Bool(b)) => Some(*b),
            Lenient::Json(Value::Number(n)) => match n.as_u64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => None,
            },
            _ => None,
        }
    }

    fn as_number(&self) -> Option<Number> {
        match self {
            Lenient::Text(s) | Lenient::Json(Value::String(s)) => s.trim().parse::<Number>().ok(),
            Lenient::Json(Value::Number(n)) => Some(n.clone()),
            _ => None,
        }
    }
}

fn visit_json<'de, V: Visitor<'de>>(value: Value, visitor: V) -> Result<V::Value, Error> {
    match value {
        Value::Null => visitor.visit_unit(),
        Value::Bool(b) => visitor.visit_bool(b),
        Value::Number(n) => visit_number(&n, visitor),
        Value::String(s) => visitor.visit_string(s),
        Value::Array(items) => visitor.visit_seq(Seq(items.into_iter())),
        Value::Object(map) => visitor.visit_map(Fields::from_json(map)),
    }
}

fn visit_number<'de, V: Visitor<'de>>(n: &Number, visitor: V) -> Result<V::Value, Error> {
    if let Some(u) = n.as_u64() {
        visitor.visit_u64(u)
    } else if let Some(i) = n.as_i64() {
        visitor.visit_i64(i)
    } else {
        visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
    }
}

fn visit_integer<'de, V: Visitor<'de>>(value: Lenient, visitor: V) -> Result<V::Value, Error> {
    let n = value
        .as_number()
        .ok_or_else(|| invalid("an integer", &value))?;
    if n.is_u64() || n.is_i64() {
        return visit_number(&n, visitor);
    }
    // 10.0 is an integer written by a sloppy client; 10.5 is not.
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => visitor.visit_i64(f as i64),
        _ => Err(invalid("an integer", &value)),
    }
}

macro_rules! integers {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            visit_integer(self, visitor)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Lenient {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visit_json(self.into_json()?, visitor)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.as_bool() {
            Some(b) => visitor.visit_bool(b),
            None => Err(invalid("true or false", &self)),
        }
    }

    integers!(deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
              deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128);

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.as_number().and_then(|n| n.as_f64()) {
            Some(f) => visitor.visit_f64(f),
            None => Err(invalid("a number", &self)),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            // A JSON-encoded string parameter (`"Room 1"`) means its content.
            Lenient::Text(s) if s.starts_with('"') => match serde_json::from_str::<String>(&s) {
                Ok(inner) => visitor.visit_string(inner),
                Err(_) => visitor.visit_string(s),
            },
            Lenient::Text(s) | Lenient::Json(Value::String(s)) => visitor.visit_string(s),
            Lenient::Json(Value::Number(n)) => visitor.visit_string(n.to_string()),
            Lenient::Json(Value::Bool(b)) => visitor.visit_string(b.to_string()),
            other => Err(invalid("a string", &other)),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self {
            Lenient::Text(s) if s.is_empty() || s == "null" => visitor.visit_none(),
            Lenient::Json(Value::Null) => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self {
            Lenient::Text(s) if s.is_empty() || s == "null" => visitor.visit_unit(),
            Lenient::Json(Value::Null) => visitor.visit_unit(),
            _ => Err(invalid("null", &self)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.structured()? {
            Value::Array(items) => visitor.visit_seq(Seq(items.into_iter())),
            other => Err(invalid("a JSON array", &Lenient::Json(other))),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.structured()? {
            Value::Object(map) => visitor.visit_map(Fields::from_json(map)),
            other => Err(invalid("a JSON object", &Lenient::Json(other))),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.into_json()? {
            Value::String(s) => visitor.visit_enum(s.into_deserializer()),
            other => de::Deserializer::deserialize_enum(other, name, variants, visitor)
                .map_err(|e| Error(ErrorKind::Invalid(e.to_string()))),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

impl Lenient {
    /// The value as a JSON object or array; text that is not JSON is a type error.
    fn structured(self) -> Result<Value, Error> {
        if let Lenient::Text(s) = &self
            && !looks_like_json(s)
        {
            return Err(invalid("a JSON object or array", &self));
        }
        self.into_json()
    }
}

struct Seq(std::vec::IntoIter<Value>);

impl<'de> SeqAccess<'de> for Seq {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0
            .next()
            .map(|v| seed.deserialize(Lenient::Json(v)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// Named values: the parameters of a request, or the members of a JSON object.
pub(super) struct Fields {
    entries: std::vec::IntoIter<(String, Lenient)>,
    pending: Option<Lenient>,
}

impl Fields {
    pub(super) fn new(entries: Vec<(String, Lenient)>) -> Fields {
        Fields {
            entries: entries.into_iter(),
            pending: None,
        }
    }

    fn from_json(map: Map<String, Value>) -> Fields {
        Fields::new(
            map.into_iter()
                .map(|(k, v)| (k, Lenient::Json(v)))
                .collect(),
        )
    }
}

impl<'de> MapAccess<'de> for Fields {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            Some((key, value)) => {
                self.pending = Some(value);
                seed.deserialize(key.into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self
            .pending
            .take()
            .ok_or_else(|| Error(ErrorKind::Invalid("value without a key".into())))?;
        seed.deserialize(value)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// Deserialises a whole parameter set (the top level of a request) as a map or struct.
pub(super) struct ParamsDeserializer(pub Vec<(String, Lenient)>);

impl<'de> de::Deserializer<'de> for ParamsDeserializer {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(Fields::new(self.0))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Inner {
        publishing: Option<bool>,
        duration: Option<u64>,
        title: Option<String>,
        tags: Option<Vec<String>>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Form {
        flag: bool,
        limit: Option<u32>,
        name: Option<String>,
        inner: Option<Inner>,
        value: Option<Value>,
    }

    fn form(pairs: &[(&str, Lenient)]) -> Result<Form, Error> {
        Form::deserialize(ParamsDeserializer(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        ))
    }

    fn text(s: &str) -> Lenient {
        Lenient::Text(s.to_string())
    }

    #[test]
    fn strings_for_booleans_and_numbers_at_every_depth() {
        let f = form(&[
            ("flag", text("true")),
            ("limit", text("10")),
            ("name", text("101")),
            (
                "inner",
                text(r#"{"publishing":"false","duration":"5000","title":7,"tags":["a"]}"#),
            ),
        ])
        .unwrap();
        assert!(f.flag);
        assert_eq!(f.limit, Some(10));
        assert_eq!(f.name.as_deref(), Some("101"));
        assert_eq!(
            f.inner,
            Some(Inner {
                publishing: Some(false),
                duration: Some(5000),
                title: Some("7".into()),
                tags: Some(vec!["a".into()])
            })
        );
    }

    #[test]
    fn json_bodies_work_the_same() {
        let f = form(&[
            ("flag", Lenient::Json(json!("1"))),
            ("inner", Lenient::Json(json!({"duration": 60.0}))),
        ])
        .unwrap();
        assert!(f.flag);
        assert_eq!(f.inner.unwrap().duration, Some(60));
    }

    #[test]
    fn free_values_become_json_where_they_parse() {
        let value = |t: &str| {
            form(&[("flag", text("0")), ("value", text(t))])
                .unwrap()
                .value
        };
        assert_eq!(value("true"), Some(json!(true)));
        assert_eq!(value("42"), Some(json!(42)));
        assert_eq!(value("Room 1"), Some(json!("Room 1")));
        assert_eq!(value(r#"{"a":1}"#), Some(json!({"a": 1})));
    }

    #[test]
    fn mistakes_are_classified() {
        assert_eq!(form(&[]).unwrap_err().0, ErrorKind::Missing("flag".into()));
        assert!(matches!(
            form(&[("flag", text("maybe"))]).unwrap_err().0,
            ErrorKind::Invalid(_)
        ));
        assert!(matches!(
            form(&[("flag", text("1")), ("inner", text(r#"{"duration": }"#))])
                .unwrap_err()
                .0,
            ErrorKind::Malformed(_)
        ));
        assert!(matches!(
            form(&[
                ("flag", text("1")),
                ("inner", text(r#"{"duration": "soon"}"#))
            ])
            .unwrap_err()
            .0,
            ErrorKind::Invalid(_)
        ));
        assert!(matches!(
            form(&[("flag", text("1")), ("limit", text("-1"))])
                .unwrap_err()
                .0,
            ErrorKind::Invalid(_)
        ));
        assert!(matches!(
            form(&[("flag", text("1")), ("inner", text("plain words"))])
                .unwrap_err()
                .0,
            ErrorKind::Invalid(_)
        ));
    }

    #[test]
    fn empty_form_values_are_absent_options() {
        let f = form(&[
            ("flag", text("false")),
            ("limit", text("")),
            ("name", text("")),
        ])
        .unwrap();
        assert_eq!((f.limit, f.name), (None, None));
    }
}
