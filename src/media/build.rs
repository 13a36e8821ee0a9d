//! Builds a pipeline from a plan, element by element, with typed property values.

use std::collections::HashMap;

use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;

use crate::graph::Media;
use crate::graph::plan::{Caps, CapsValue, LinkSpec, Plan, Prop};

#[derive(Debug, Clone, thiserror::Error)]
pub enum BuildError {
    #[error("cannot create {factory} ({name}): {message}")]
    Element {
        name: String,
        factory: String,
        message: String,
    },
    #[error("{object} has no property {property}")]
    NoProperty { object: String, property: String },
    #[error("{object}.{property}: {message}")]
    Property {
        object: String,
        property: String,
        message: String,
    },
    #[error("cannot link {from} to {to}: {message}")]
    Link {
        from: String,
        to: String,
        message: String,
    },
}

/// A built pipeline and its elements by name.
pub struct Built {
    pub pipeline: gst::Pipeline,
    pub elements: HashMap<String, gst::Element>,
}

pub fn caps(spec: &Caps) -> gst::Caps {
    let mut s = gst::Structure::new_empty(spec.media);
    for (name, value) in &spec.fields {
        match value {
            CapsValue::Str(v) => s.set(*name, v.as_str()),
            CapsValue::Int(v) => s.set(*name, *v),
            CapsValue::Fraction(n, d) => s.set(*name, gst::Fraction::new(*n, *d)),
        }
    }
    gst::Caps::builder_full().structure(s).build()
}

/// Sets a property, converting the plan's value to the property's own type.
fn set(object: &glib::Object, name: &str, key: &str, prop: &Prop) -> Result<(), BuildError> {
    let pspec = object
        .find_property(key)
        .ok_or_else(|| BuildError::NoProperty {
            object: name.to_string(),
            property: key.to_string(),
        })?;
    let ty = pspec.value_type();
    let fail = |message: String| BuildError::Property {
        object: name.to_string(),
        property: key.to_string(),
        message,
    };
    let value: glib::Value = match prop {
        Prop::Str(s) | Prop::Secret { value: s, .. } if ty == glib::Type::STRING => s.to_value(),
        // Enum and flag nicks (validated against fixed lists) and structures castd writes.
        Prop::Str(s) | Prop::Secret { value: s, .. } => {
            return glib::Value::deserialize_with_pspec(s, &pspec)
                .map(|v| object.set_property_from_value(key, &v))
                .map_err(|e| fail(e.to_string()));
        }
        Prop::Enum(nick) => {
            return glib::Value::deserialize_with_pspec(nick, &pspec)
                .map(|v| object.set_property_from_value(key, &v))
                .map_err(|e| fail(e.to_string()));
        }
        Prop::Bool(b) => b.to_value(),
        Prop::Int(i) => match ty {
            t if t == glib::Type::I32 => i32::try_from(*i)
                .map_err(|e| fail(e.to_string()))?
                .to_value(),
            t if t == glib::Type::U32 => u32::try_from(*i)
                .map_err(|e| fail(e.to_string()))?
                .to_value(),
            t if t == glib::Type::I64 => i.to_value(),
            t if t == glib::Type::U64 => u64::try_from(*i)
                .map_err(|e| fail(e.to_string()))?
                .to_value(),
            t if t == glib::Type::F64 => (*i as f64).to_value(),
            t if t == glib::Type::F32 => (*i as f32).to_value(),
            t if t.is_a(glib::Type::ENUM) => {
                return glib::Value::deserialize_with_pspec(&i.to_string(), &pspec)
                    .map(|v| object.set_property_from_value(key, &v))
                    .map_err(|e| fail(e.to_string()));
            }
            other => return Err(fail(format!("an integer does not fit type {other}"))),
        },
        Prop::Float(f) => match ty {
            t if t == glib::Type::F64 => f.to_value(),
            t if t == glib::Type::F32 => (*f as f32).to_value(),
            other => return Err(fail(format!("a number does not fit type {other}"))),
        },
        Prop::Fraction(n, d) => gst::Fraction::new(*n, *d).to_value(),
        Prop::Caps(c) => caps(c).to_value(),
    };
    object.set_property_from_value(key, &value);
    Ok(())
}

/// Creates every element of the plan in a new pipeline and links them.
pub fn build(plan: &Plan, name: &str) -> Result<Built, BuildError> {
    let pipeline = gst::Pipeline::with_name(name);
    let mut elements = HashMap::new();
    for spec in &plan.elements {
        let element = gst::ElementFactory::make(spec.factory)
            .name(spec.name.as_str())
            .build()
            .map_err(|e| BuildError::Element {
                name: spec.name.clone(),
                factory: spec.factory.to_string(),
                message: e.to_string(),
            })?;
        for (key, value) in &spec.props {
            set(element.upcast_ref(), &spec.name, key, value)?;
        }
        pipeline.add(&element).map_err(|e| BuildError::Element {
            name: spec.name.clone(),
            factory: spec.factory.to_string(),
            message: e.to_string(),
        })?;
        elements.insert(spec.name.clone(), element);
    }
    let mut aliases: HashMap<(String, String), String> = HashMap::new();
    for link in &plan.links {
        connect(link, &elements, &mut aliases)?;
    }
    Ok(Built { pipeline, elements })
}

/// A static pad, or a request pad of the wanted name (recording the name actually given).
fn pad(
    element: &gst::Element,
    element_name: &str,
    wanted: &str,
    aliases: &mut HashMap<(String, String), String>,
) -> Option<gst::Pad> {
    let wanted = aliases
        .get(&(element_name.to_string(), wanted.to_string()))
        .cloned()
        .unwrap_or_else(|| wanted.to_string());
    if let Some(p) = element.static_pad(&wanted) {
        return Some(p);
    }
    let template = element.pad_template_list().into_iter().find(|t| {
        t.presence() == gst::PadPresence::Request && template_matches(t.name_template(), &wanted)
    })?;
    let pad = element.request_pad(&template, Some(&wanted), None)?;
    if pad.name() != wanted.as_str() {
        // Elements that number their own pads (togglerecord) pair sink_N with src_N.
        if let (Some(asked), Some(given)) = (
            wanted.strip_prefix("sink_"),
            pad.name().strip_prefix("sink_"),
        ) {
            aliases.insert(
                (element_name.to_string(), format!("src_{asked}")),
                format!("src_{given}"),
            );
        }
    }
    Some(pad)
}

fn template_matches(template: &str, name: &str) -> bool {
    match template.split_once('%') {
        Some((prefix, _)) => {
            name.starts_with(prefix) && name[prefix.len()..].chars().all(|c| c.is_ascii_digit())
        }
        None => template == name,
    }
}

fn connect(
    link: &LinkSpec,
    elements: &HashMap<String, gst::Element>,
    aliases: &mut HashMap<(String, String), String>,
) -> Result<(), BuildError> {
    let fail = |message: String| BuildError::Link {
        from: link.from.clone(),
        to: link.to.clone(),
        message,
    };
    let from = &elements[&link.from];
    let to = &elements[&link.to];
    let sink = match &link.to_pad {
        Some(name) => {
            pad(to, &link.to, name, aliases).ok_or_else(|| fail(format!("no pad {name}")))?
        }
        // Overlays name their picture input `video_sink`.
        None => to
            .static_pad("sink")
            .or_else(|| to.static_pad("video_sink"))
            .ok_or_else(|| fail("no sink pad".into()))?,
    };
    for (key, value) in &link.to_pad_props {
        set(
            sink.upcast_ref(),
            &format!("{}.{}", link.to, sink.name()),
            key,
            value,
        )?;
    }
    if let Some(media) = link.dynamic {
        // Decoders expose their pads once they know the stream: link the first of the media.
        let prefix = if media == Media::RawAudio {
            "audio/"
        } else {
            "video/"
        };
        from.connect_pad_added(move |_, src| {
            let matches = src
                .current_caps()
                .or_else(|| Some(src.query_caps(None)))
                .and_then(|c| c.structure(0).map(|s| s.name().starts_with(prefix)))
                .unwrap_or(false);
            if matches
                && !sink.is_linked()
                && let Err(e) = src.link(&sink)
            {
                log::warn!("cannot link {} to {}: {e}", src.name(), sink.name());
            }
        });
        return Ok(());
    }
    let src = match &link.from_pad {
        Some(name) => {
            pad(from, &link.from, name, aliases).ok_or_else(|| fail(format!("no pad {name}")))?
        }
        None => from
            .static_pad("src")
            .ok_or_else(|| fail("no src pad".into()))?,
    };
    src.link(&sink).map(|_| ()).map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_templates_match_numbered_names() {
        assert!(template_matches("sink_%u", "sink_3"));
        assert!(!template_matches("sink_%u", "src_3"));
        assert!(template_matches("src", "src"));
    }
}
