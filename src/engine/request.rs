//! What a capture request and its template give before anything starts: the request's own
//! checks, the graph in its normalised form, the bitrate the graph writes, the title made
//! from the template's pattern. Pure functions of their arguments (and the clock, for the
//! title).

use super::CaptureError;
use crate::graph;
use crate::model::{CaptureRequest, Graph, Metadata, NodeType, RuleBroken, Tags, Template, Title};

/// Checks what a capture request asks for before anything starts.
pub fn validate_request(request: &CaptureRequest) -> Result<(), CaptureError> {
    let invalid = |m: String| Err(CaptureError::InvalidRequest(m));
    let broken = |e: RuleBroken| CaptureError::InvalidRequest(format!("{}: {e}", e.field));
    if let Some(title) = &request.title {
        Title::try_from(title.as_str()).map_err(broken)?;
    }
    if let Some(d) = request.duration
        && !(1000..=86_400_000).contains(&d)
    {
        return invalid(format!("duration must be 1000 to 86400000 ms, got {d}"));
    }
    Tags::try_from(request.tags.clone()).map_err(broken)?;
    Metadata::try_from(request.metadata.clone()).map_err(broken)?;
    Ok(())
}

/// Bits per second a graph writes: the sum of its encoders' bitrates.
pub(super) fn graph_bitrate(graph: &Graph) -> u64 {
    graph
        .nodes
        .iter()
        .map(|n| {
            let rate = n
                .options
                .get("bitrate")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0);
            match n.kind {
                NodeType::H264Encoder => rate * 1000,
                NodeType::AacEncoder => rate,
                _ => 0,
            }
        })
        .sum()
}

/// Title from a template pattern: `{template}`, `{date}` and `{time}` (local time).
pub(super) fn title_from(pattern: &str, template_name: &str, timezone: &str) -> String {
    let tz: chrono_tz::Tz = timezone.parse().unwrap_or(chrono_tz::UTC);
    let now = chrono::Utc::now().with_timezone(&tz);
    pattern
        .replace("{template}", template_name)
        .replace("{date}", &now.format("%Y-%m-%d").to_string())
        .replace("{time}", &now.format("%H:%M").to_string())
}

/// Validates a template's graph for use (the compiler needs a normalised graph).
pub(super) fn normalised(template: &Template) -> Result<Graph, CaptureError> {
    Ok(graph::validate(&template.graph)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked() {
        let ok = CaptureRequest {
            title: Some("Physics 101".into()),
            duration: Some(3_600_000),
            ..Default::default()
        };
        assert!(validate_request(&ok).is_ok());
        for bad in [
            CaptureRequest {
                duration: Some(-5),
                ..Default::default()
            },
            CaptureRequest {
                duration: Some(i64::MAX),
                ..Default::default()
            },
            CaptureRequest {
                title: Some("a\u{0}b".into()),
                ..Default::default()
            },
            CaptureRequest {
                tags: vec!["x".into(); 51],
                ..Default::default()
            },
        ] {
            assert!(validate_request(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn titles_fill_their_pattern() {
        let t = title_from("{template} {date}", "Lecture", "UTC");
        assert!(t.starts_with("Lecture 20"), "{t}");
    }
}
