//! Speakers: validation, storage, and turning a speaker reference (an id, a name or an
//! inline object) into the full Speaker snapshot that events and media packages keep.
//!
//! Packages and events hold a copy, not a reference, so deleting or renaming a speaker
//! never changes what an existing recording says about who gave it.

use serde_json::{Map, Value};

use crate::model::speaker::{ASSET_CLASS, LINK_CLASS, speaker_number};
use crate::model::speaker_ref::numeric_id;
use crate::model::{Speaker, SpeakerRef};
use crate::store::{self, Store, StoreError};

/// Longest accepted name, email or credentials line; longer text belongs in `biography`.
const MAX_LINE: usize = 500;
/// Longest accepted biography.
const MAX_TEXT: usize = 20_000;
/// Most links one speaker may have.
const MAX_LINKS: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum SpeakerError {
    #[error("no speaker {0}")]
    NotFound(i64),
    #[error("no speaker is known as {0}")]
    UnknownReference(String),
    #[error("invalid speaker {field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("another speaker is named {0:?}")]
    DuplicateName(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> SpeakerError {
    SpeakerError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Handle to the speakers of the unit.
#[derive(Clone)]
pub struct Speakers {
    store: Store,
}

impl Speakers {
    pub fn new(store: Store) -> Speakers {
        Speakers { store }
    }

    pub async fn list(&self) -> Result<Vec<Speaker>, SpeakerError> {
        self.store
            .read(|c| store::speakers::list(c).map_err(SpeakerError::from))
            .await
    }

    pub async fn get(&self, id: i64) -> Result<Speaker, SpeakerError> {
        self.store
            .read(move |c| store::speakers::get(c, id)?.ok_or(SpeakerError::NotFound(id)))
            .await
    }

    /// Creates a speaker from a JSON object (`id` ignored).
    pub async fn create(&self, input: Map<String, Value>) -> Result<Speaker, SpeakerError> {
        let mut speaker = validate(&input)?;
        self.store
            .write(move |tx| {
                speaker.id = store::speakers::insert(tx, &speaker)
                    .map_err(|e| duplicate_or_store(e, &speaker.name))?;
                Ok(speaker)
            })
            .await
    }

    /// Changes the fields `changes` names (`null` clears an optional field); the others
    /// keep their values. The result is validated as a whole.
    #[expect(clippy::expect_used, reason = "invariant: a speaker serialises")]
    pub async fn update(
        &self,
        id: i64,
        changes: Map<String, Value>,
    ) -> Result<Speaker, SpeakerError> {
        self.store
            .write(move |tx| {
                let stored = store::speakers::get(tx, id)?.ok_or(SpeakerError::NotFound(id))?;
                let Value::Object(mut merged) =
                    serde_json::to_value(&stored).expect("a speaker serialises")
                else {
                    unreachable!("a speaker serialises to an object")
                };
                for (key, value) in changes {
                    if key != "id" {
                        merged.insert(key, value);
                    }
                }
                let speaker = Speaker {
                    id,
                    ..validate(&merged)?
                };
                store::speakers::update(tx, &speaker)
                    .map_err(|e| duplicate_or_store(e, &speaker.name))?;
                Ok(speaker)
            })
            .await
    }

    pub async fn delete(&self, id: i64) -> Result<(), SpeakerError> {
        self.store
            .write(move |tx| {
                if store::speakers::delete(tx, id)? {
                    Ok(())
                } else {
                    Err(SpeakerError::NotFound(id))
                }
            })
            .await
    }

    /// See [`resolve`].
    pub async fn resolve(&self, value: &Value) -> Result<Option<Value>, SpeakerError> {
        resolve(&self.store, value).await
    }

    /// The `speaker` number and `speakerInfo` snapshot to keep for an object that was sent
    /// with `speaker` and `speakerInfo` (either may be absent).
    ///
    /// `speakerInfo` is what castd answered with the same `speaker`; sent back together
    /// (a GET → POST round trip) it is taken as it is, so a guest or a since deleted
    /// speaker survives the trip. With another `speaker` it is stale (a client changed
    /// the speaker and left the rest of the object as it was) and `speaker` wins.
    pub async fn settle(
        &self,
        speaker: Option<&Value>,
        info: Option<&Value>,
    ) -> Result<(Value, Option<Value>), SpeakerError> {
        let speaker = speaker.unwrap_or(&Value::Null);
        let info = info.filter(|i| i.is_object());
        let reference = match info {
            Some(info) if reference_id(speaker) == Some(speaker_number(Some(info))) => info,
            _ => speaker,
        };
        let snapshot = self.resolve(reference).await?;
        Ok((speaker_number(snapshot.as_ref()), snapshot))
    }
}

/// The id a `speaker` value names: 0 for none, `None` for a name or an object.
fn reference_id(speaker: &Value) -> Option<Value> {
    SpeakerRef::parse(speaker)
        .ok()
        .and_then(|r| r.plain_id())
        .map(Value::from)
}

fn duplicate_or_store(e: rusqlite::Error, name: &str) -> SpeakerError {
    if store::is_unique_violation(&e) {
        SpeakerError::DuplicateName(name.to_string())
    } else {
        SpeakerError::Store(e.into())
    }
}

/// Turns a speaker reference into the Speaker snapshot to keep:
///
/// - `null`, `""`, `0`, `"0"`: no speaker (`None`), as the vendor's Event says of 0;
/// - another number, or a string of digits: the stored speaker with that id;
/// - any other string: the stored speaker of that name (ignoring case), else an inline
///   speaker of that name;
/// - an object with an `id` of a stored speaker: that stored speaker;
/// - an object with a `name`: an inline speaker, validated like a stored one and kept as it
///   is (with its `id` when it has one, as in a snapshot of a speaker deleted since);
/// - an object with only an unknown `id`: unknown.
///
/// An unknown id is [`SpeakerError::UnknownReference`]; anything else that is not a
/// valid speaker is [`SpeakerError::Invalid`].
#[expect(clippy::expect_used, reason = "invariant: a speaker serialises")]
pub(crate) async fn resolve(store: &Store, value: &Value) -> Result<Option<Value>, SpeakerError> {
    let (lookup, inline) = match reference(value)? {
        Reference::Nobody => return Ok(None),
        Reference::Inline(inline) => return Ok(Some(inline)),
        Reference::Stored(lookup, inline) => (lookup, inline),
    };
    let found = match &lookup {
        Lookup::Id(id) => {
            let id = *id;
            store.read(move |c| store::speakers::get(c, id)).await?
        }
        Lookup::Name(name) => {
            let name = name.clone();
            store
                .read(move |c| store::speakers::find_by_name(c, &name))
                .await?
        }
    };
    match (found, inline) {
        (Some(speaker), _) => Ok(Some(
            serde_json::to_value(speaker).expect("a speaker serialises"),
        )),
        (None, Some(inline)) => Ok(Some(inline)),
        // A name nobody registered is still who speaks: a panel that types a guest's name
        // must not keep the lecture from being recorded. It is kept as an inline speaker.
        (None, None) => match lookup {
            Lookup::Name(name) => {
                let mut map = Map::new();
                map.insert("name".into(), Value::String(name));
                Ok(Some(Value::Object(inline_json(&validate(&map)?))))
            }
            Lookup::Id(id) => Err(SpeakerError::UnknownReference(format!("id {id}"))),
        },
    }
}

/// What a speaker value refers to, read before the store is asked.
enum Reference {
    /// No speaker.
    Nobody,
    /// An inline speaker with no stored one to look for.
    Inline(Value),
    /// A stored speaker to look for, and the inline speaker given with it, if any.
    Stored(Lookup, Option<Value>),
}

/// How a stored speaker is looked for.
enum Lookup {
    Id(i64),
    Name(String),
}

/// Reads a speaker value (see [`resolve`] for the forms); an inline speaker is validated.
fn reference(value: &Value) -> Result<Reference, SpeakerError> {
    let parsed = SpeakerRef::parse(value).map_err(|e| {
        if e.number {
            invalid("speaker", "a speaker id is a whole number")
        } else {
            invalid(
                "speaker",
                "must be a speaker id, a name or a speaker object",
            )
        }
    })?;
    match parsed {
        SpeakerRef::None => Ok(Reference::Nobody),
        SpeakerRef::Id(id) => Ok(Reference::Stored(Lookup::Id(id), None)),
        SpeakerRef::Name(name) => Ok(Reference::Stored(Lookup::Name(name), None)),
        SpeakerRef::Inline(map) => object_reference(&map),
    }
}

/// A speaker object: a stored speaker by `id`, an inline one by `name`, or both (the
/// inline one keeps the id).
fn object_reference(map: &Map<String, Value>) -> Result<Reference, SpeakerError> {
    let id = match map.get("id") {
        None | Some(Value::Null) => None,
        // 0 is no id, as in an Event's `speaker`.
        Some(Value::Number(n)) => n.as_i64().filter(|&id| id != 0),
        Some(Value::String(s)) => numeric_id(s.trim()).filter(|&id| id != 0),
        Some(_) => return Err(invalid("speaker.id", "must be a whole number")),
    };
    let inline = if map.contains_key("name") {
        let mut speaker = inline_json(&validate(map)?);
        if let Some(id) = id {
            speaker.insert("id".into(), id.into());
        }
        Some(Value::Object(speaker))
    } else {
        None
    };
    match (id, inline) {
        (Some(id), inline) => Ok(Reference::Stored(Lookup::Id(id), inline)),
        (None, Some(inline)) => Ok(Reference::Inline(inline)),
        (None, None) => Err(invalid("speaker.name", "required (or an id)")),
    }
}

/// The JSON of an inline speaker: the stored shape without an id.
#[expect(clippy::expect_used, reason = "invariant: a speaker serialises")]
fn inline_json(speaker: &Speaker) -> Map<String, Value> {
    let Value::Object(mut map) = serde_json::to_value(speaker).expect("a speaker serialises")
    else {
        unreachable!("a speaker serialises to an object")
    };
    map.remove("id");
    map
}

/// Checks a speaker object and normalises it (trimmed text, empty text as absent, `@class`
/// filled in). Unknown keys are ignored, as real clients send extra ones.
pub(crate) fn validate(input: &Map<String, Value>) -> Result<Speaker, SpeakerError> {
    let name = text(input, "name", MAX_LINE)?.ok_or_else(|| invalid("name", "required"))?;
    let email = text(input, "email", MAX_LINE)?;
    if let Some(email) = &email
        && !is_email(email)
    {
        return Err(invalid(
            "email",
            format!("{email:?} is not an email address"),
        ));
    }
    let biography = text(input, "biography", MAX_TEXT)?;
    let credentials = text(input, "credentials", MAX_LINE)?;
    let image = match input.get("image") {
        None | Some(Value::Null) => None,
        Some(Value::Object(asset)) => Some(Value::Object(validate_asset(asset)?)),
        Some(_) => return Err(invalid("image", "must be an Asset object")),
    };
    let links = match input.get("links") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(links)) => {
            if links.len() > MAX_LINKS {
                return Err(invalid("links", format!("at most {MAX_LINKS} links")));
            }
            links
                .iter()
                .enumerate()
                .map(|(i, link)| validate_link(i, link))
                .collect::<Result<Vec<_>, _>>()?
        }
        Some(_) => return Err(invalid("links", "must be an array of Link objects")),
    };
    Ok(Speaker {
        id: 0,
        name,
        email,
        biography,
        credentials,
        image,
        links,
    })
}

/// An optional text field: trimmed, empty as absent, at most `max` characters.
fn text(
    input: &Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<Option<String>, SpeakerError> {
    match input.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.chars().count() > max {
                Err(invalid(field, format!("longer than {max} characters")))
            } else if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                Err(invalid(field, "contains control characters"))
            } else {
                Ok((!s.is_empty()).then(|| s.to_string()))
            }
        }
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

/// A plausible address: one `@`, something before it, a dotted domain after it, no spaces.
/// Deliverability is not ours to judge.
fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && !s.chars().any(char::is_whitespace)
        && domain.split('.').count() >= 2
        && domain.split('.').all(|label| !label.is_empty())
}

/// Checks the `@class` of an Asset or Link and fills it in when absent.
fn check_class(
    object: &mut Map<String, Value>,
    field: &str,
    class: &str,
) -> Result<(), SpeakerError> {
    match object.get("@class") {
        None | Some(Value::Null) => {
            object.insert("@class".into(), class.into());
            Ok(())
        }
        Some(Value::String(c)) if c == class => Ok(()),
        Some(other) => Err(invalid(
            format!("{field}.@class"),
            format!("must be {class}, got {other}"),
        )),
    }
}

fn validate_asset(asset: &Map<String, Value>) -> Result<Map<String, Value>, SpeakerError> {
    let mut asset = asset.clone();
    check_class(&mut asset, "image", ASSET_CLASS)?;
    for key in ["path", "mimeType", "fileAlias", "description"] {
        if let Some(value) = asset.get(key)
            && !(value.is_string() || value.is_null())
        {
            return Err(invalid(format!("image.{key}"), "must be a string"));
        }
    }
    if let Some(value) = asset.get("creationDate")
        && !(value.is_i64() || value.is_null())
    {
        return Err(invalid(
            "image.creationDate",
            "must be milliseconds since the epoch",
        ));
    }
    Ok(asset)
}

fn validate_link(index: usize, link: &Value) -> Result<Value, SpeakerError> {
    let field = format!("links[{index}]");
    let Value::Object(link) = link else {
        return Err(invalid(field, "must be a Link object"));
    };
    let mut link = link.clone();
    check_class(&mut link, &field, LINK_CLASS)?;
    for key in ["title", "description"] {
        if let Some(value) = link.get(key)
            && !(value.is_string() || value.is_null())
        {
            return Err(invalid(format!("{field}.{key}"), "must be a string"));
        }
    }
    let url = match link.get("url") {
        Some(Value::String(url)) => url.trim().to_string(),
        _ => return Err(invalid(format!("{field}.url"), "required")),
    };
    match url::Url::parse(&url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => {}
        _ => {
            return Err(invalid(
                format!("{field}.url"),
                format!("{url:?} is not an http or https URL"),
            ));
        }
    }
    link.insert("url".into(), url.into());
    Ok(Value::Object(link))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn validation_names_the_field() {
        let field = |v: Value| match validate(&map(v)) {
            Err(SpeakerError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(json!({"name": "  "})), "name");
        assert_eq!(field(json!({"name": "A", "email": "a@b"})), "email");
        assert_eq!(
            field(json!({"name": "A", "links": [{"url": "ftp://x.org"}]})),
            "links[0].url"
        );
        assert_eq!(
            field(json!({"name": "A", "image": {"@class": "x"}})),
            "image.@class"
        );
        assert_eq!(field(json!({"name": 5})), "name");
    }

    #[test]
    fn classes_are_filled_in_and_text_trimmed() {
        let s = validate(&map(json!({
            "name": " Ada ", "email": "ada@example.edu", "biography": "",
            "image": {"path": "ada.jpg"}, "links": [{"url": "https://ada.example.edu", "title": "Home"}]
        })))
        .unwrap();
        assert_eq!(s.name, "Ada");
        assert_eq!(s.biography, None);
        assert_eq!(s.image.unwrap()["@class"], ASSET_CLASS);
        assert_eq!(s.links[0]["@class"], LINK_CLASS);
    }

    #[tokio::test]
    async fn references_resolve_to_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let speakers = Speakers::new(store.clone());
        let ada = speakers
            .create(map(
                json!({"name": "Ada Lovelace", "email": "ada@example.edu"}),
            ))
            .await
            .unwrap();
        let by_id = resolve(&store, &json!(ada.id)).await.unwrap().unwrap();
        assert_eq!(by_id["email"], "ada@example.edu");
        let by_text_id = resolve(&store, &json!(ada.id.to_string())).await.unwrap();
        assert_eq!(by_text_id.unwrap()["name"], "Ada Lovelace");
        let by_name = resolve(&store, &json!("ada lovelace"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_name["id"], ada.id);
        let by_object = resolve(&store, &json!({"id": ada.id}))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_object, by_id);
        let inline = resolve(&store, &json!({"name": "Guest"}))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(inline["name"], "Guest");
        assert!(inline.get("id").is_none());
        let deleted_snapshot = json!({"id": 999, "name": "Gone"});
        assert_eq!(
            resolve(&store, &deleted_snapshot).await.unwrap().unwrap()["id"],
            999
        );
        assert!(resolve(&store, &Value::Null).await.unwrap().is_none());
        let guest = resolve(&store, &json!("Nobody")).await.unwrap().unwrap();
        assert_eq!(
            guest["name"], "Nobody",
            "an unknown name is an inline speaker"
        );
        assert!(guest.get("id").is_none());
        for unknown in [json!(999), json!({"id": 999})] {
            assert!(matches!(
                resolve(&store, &unknown).await,
                Err(SpeakerError::UnknownReference(_))
            ));
        }
        assert!(matches!(
            resolve(&store, &json!([1])).await,
            Err(SpeakerError::Invalid { .. })
        ));
    }
}
