//! The XML Opencast speaks: the episode Dublin Core catalog castd writes, and the few
//! facts castd reads back from media package and workflow answers. Text in, text out:
//! no requests.

use quick_xml::events::{BytesStart, BytesText, Event};
use serde_json::Value;

use crate::model::MediaPackage;

pub(super) const DC_NAMESPACE: &str = "http://www.opencastproject.org/xsd/1.0/dublincore/";
const DCTERMS_NAMESPACE: &str = "http://purl.org/dc/terms/";
const XSI_NAMESPACE: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// Package metadata keys that are Dublin Core terms and go into the episode catalog as
/// they are.
const DC_TERMS: &[&str] = &[
    "description",
    "language",
    "license",
    "rightsHolder",
    "publisher",
    "contributor",
    "isPartOf",
    "spatial",
    "source",
];

/// The episode Dublin Core catalog of a package: title, speakers as creators, tags as
/// subjects, creation time, recorded length, the recording period, and metadata keys that
/// are Dublin Core terms.
#[expect(
    clippy::expect_used,
    reason = "invariant: the writer writes the UTF-8 it is given; writing to memory does not fail"
)]
pub(super) fn dublin_core(package: &MediaPackage) -> String {
    let start = chrono::DateTime::from_timestamp_millis(package.creation_date).unwrap_or_default();
    let end = start + chrono::Duration::milliseconds(package.duration.max(0));
    let date =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut terms: Vec<(&str, Option<&str>, String)> = vec![("title", None, package.title.clone())];
    for name in speaker_names(package.speaker_info.as_ref()) {
        terms.push(("creator", None, name));
    }
    for tag in &package.tags {
        terms.push(("subject", None, tag.clone()));
    }
    terms.push(("created", Some("dcterms:W3CDTF"), date(start)));
    terms.push((
        "extent",
        Some("dcterms:ISO8601"),
        iso_duration(package.duration),
    ));
    terms.push((
        "temporal",
        Some("dcterms:Period"),
        format!("start={}; end={}; scheme=W3C-DTF;", date(start), date(end)),
    ));
    for term in DC_TERMS {
        let values: Vec<&str> = match package.metadata.get(*term) {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for value in values {
            terms.push((term, None, value.to_string()));
        }
    }

    let mut writer = quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2);
    let root = BytesStart::new("dublincore").with_attributes([
        ("xmlns", DC_NAMESPACE),
        ("xmlns:dcterms", DCTERMS_NAMESPACE),
        ("xmlns:xsi", XSI_NAMESPACE),
    ]);
    let written: std::io::Result<()> = (|| {
        writer.write_event(Event::Decl(quick_xml::events::BytesDecl::new(
            "1.0",
            Some("UTF-8"),
            None,
        )))?;
        writer.write_event(Event::Start(root.borrow()))?;
        for (term, scheme, value) in &terms {
            let value = xml_chars(value.trim());
            if value.is_empty() {
                continue;
            }
            let mut element = writer.create_element(format!("dcterms:{term}"));
            if let Some(scheme) = scheme {
                element = element.with_attribute(("xsi:type", *scheme));
            }
            element.write_text_content(BytesText::new(&value))?;
        }
        writer.write_event(Event::End(root.to_end()))?;
        Ok(())
    })();
    written.expect("writing to memory does not fail");
    String::from_utf8(writer.into_inner()).expect("the writer writes the UTF-8 it is given")
}

/// `text` without the characters XML 1.0 cannot carry (most control characters).
pub(super) fn xml_chars(text: &str) -> String {
    text.chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{fffe}' && c != '\u{ffff}')
        })
        .collect()
}

/// Speaker names out of the package's speaker, which is stored as given: a name, an
/// object with a `name`, a list of either, or an id (which names nobody).
pub(super) fn speaker_names(speaker: Option<&Value>) -> Vec<String> {
    match speaker {
        Some(Value::String(name)) if !name.trim().is_empty() => vec![name.trim().to_string()],
        Some(Value::Object(o)) => speaker_names(o.get("name")),
        Some(Value::Array(items)) => items.iter().flat_map(|s| speaker_names(Some(s))).collect(),
        _ => Vec::new(),
    }
}

/// Milliseconds as an ISO 8601 duration (`PT1H2M3.456S`).
pub(super) fn iso_duration(ms: i64) -> String {
    let ms = ms.max(0);
    let (hours, minutes) = (ms / 3_600_000, ms / 60_000 % 60);
    let (seconds, millis) = (ms / 1000 % 60, ms % 1000);
    let mut text = String::from("PT");
    if hours > 0 {
        text.push_str(&format!("{hours}H"));
    }
    if minutes > 0 {
        text.push_str(&format!("{minutes}M"));
    }
    text.push_str(&format!("{seconds}.{millis:03}S"));
    text
}

/// Calls `visit` with every element start (self-closing ones too) and every text of `xml`;
/// fails on XML that does not parse.
pub(super) fn scan(xml: &str, mut visit: impl FnMut(Node<'_>)) -> Result<(), String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => visit(Node::Start(&e, false)),
            Ok(Event::Empty(e)) => visit(Node::Start(&e, true)),
            Ok(Event::End(e)) => visit(Node::End(e.local_name().as_ref())),
            Ok(Event::Text(t)) => visit(Node::Text(&t)),
            Ok(Event::Eof) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(format!("the answer is not XML: {e}")),
        }
    }
}

pub(super) enum Node<'a> {
    /// An element start, and whether it is self-closing.
    Start(&'a BytesStart<'a>, bool),
    End(&'a str),
    Text(&'a str),
}

pub(super) fn local_name<'a>(e: &'a BytesStart<'_>) -> &'a str {
    e.local_name().into_inner()
}

pub(super) fn attribute(e: &BytesStart<'_>, name: &str) -> Option<String> {
    let attr = e.try_get_attribute(name).ok()??;
    attr.normalized_value(quick_xml::XmlVersion::Implicit1_0)
        .ok()
        .map(|v| v.into_owned())
}

/// The id of the media package an answer describes.
pub(super) fn media_package_id(xml: &str) -> Result<String, String> {
    let mut id = None;
    scan(xml, |node| {
        if let Node::Start(e, _) = node
            && id.is_none()
            && local_name(e) == "mediapackage"
        {
            id = Some(attribute(e, "id").unwrap_or_default());
        }
    })?;
    id.filter(|id| !id.is_empty())
        .ok_or_else(|| "the answer holds no media package id".to_string())
}

/// From the answer to an ingest: the workflow instance id and the media package id.
pub(super) fn workflow_instance(xml: &str) -> Result<(Option<String>, Option<String>), String> {
    let (mut workflow, mut package) = (None, None);
    scan(xml, |node| {
        if let Node::Start(e, _) = node {
            match local_name(e) {
                "workflow" if workflow.is_none() => workflow = attribute(e, "id"),
                "mediapackage" if package.is_none() => package = attribute(e, "id"),
                _ => {}
            }
        }
    })?;
    if workflow.is_none() && package.is_none() {
        return Err("the answer names no workflow".into());
    }
    Ok((workflow, package))
}

pub(super) struct Element {
    pub(super) id: String,
    /// The MD5 checksum Opencast recorded, if it did.
    pub(super) md5: Option<String>,
}

/// The elements named `name` (`track`, `attachment`) of a media package XML.
pub(super) fn elements(xml: &str, name: &str) -> Result<Vec<Element>, String> {
    let mut out: Vec<Element> = Vec::new();
    // Inside an element of interest (one that has an end tag), and inside its MD5 checksum.
    let mut inside = false;
    let mut in_md5 = false;
    scan(xml, |node| match node {
        Node::Start(e, empty) => {
            let local = local_name(e);
            if local == name {
                inside = !empty;
                out.push(Element {
                    id: attribute(e, "id").unwrap_or_default(),
                    md5: None,
                });
            } else if local == "checksum" && inside && !empty {
                in_md5 = attribute(e, "type").is_some_and(|t| t.eq_ignore_ascii_case("md5"));
            }
        }
        Node::Text(text) if in_md5 => {
            if let Some(element) = out.last_mut() {
                element.md5 = Some(text.trim().to_string());
            }
        }
        Node::End(local) => {
            if local == name {
                inside = false;
            } else if local == "checksum" {
                in_md5 = false;
            }
        }
        _ => {}
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_catalog_escapes_user_text_and_parses_back() {
        let mut package: MediaPackage = serde_json::from_value(json!({
            "id": "p1", "title": "Fish & <Chips> \"1\"\u{1}", "creationDate": 1_700_000_000_000i64,
            "root": "/x", "outputs": {}, "sources": [], "publishing": {},
            "processing": {"root": "recording", "nodes": []}, "state": "complete",
            "duration": 3_723_456, "tags": ["a&b", "</dcterms:subject>"], "metadata": {"description": "d<"},
            "speaker": 0, "speakerInfo": {"name": "Ada & Co"}, "templateID": "t", "markers": [], "request": {}
        }))
        .unwrap();
        package
            .metadata
            .insert("course".into(), json!("not a DC term"));
        let xml = dublin_core(&package);
        let mut texts = Vec::new();
        let mut reader = quick_xml::Reader::from_str(&xml);
        let mut current = String::new();
        loop {
            match reader.read_event().unwrap() {
                Event::Start(_) => current.clear(),
                Event::Text(t) => current.push_str(&t),
                Event::GeneralRef(r) => current.push_str(match &*r {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("entity {other}"),
                }),
                Event::End(e) => texts.push((e.local_name().as_ref().to_string(), current.clone())),
                Event::Eof => break,
                _ => {}
            }
        }
        let get = |name: &str| -> Vec<&str> {
            texts
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, t)| t.as_str())
                .collect()
        };
        assert_eq!(get("title"), ["Fish & <Chips> \"1\""]);
        assert_eq!(get("creator"), ["Ada & Co"]);
        assert_eq!(get("subject"), ["a&b", "</dcterms:subject>"]);
        assert_eq!(get("extent"), ["PT1H2M3.456S"]);
        assert_eq!(get("created"), ["2023-11-14T22:13:20Z"]);
        assert_eq!(get("description"), ["d<"]);
        assert!(xml.contains(DC_NAMESPACE) && !xml.contains("not a DC term"));
    }
}
