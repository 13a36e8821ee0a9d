//! Reading castd's Server-Sent Events stream: a parser fed with raw chunks that yields
//! whole events, and the one-line form castctl prints for each.

use serde_json::Value;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SseEvent {
    pub id: Option<String>,
    pub name: String,
    pub data: String,
}

/// Incremental SSE parser (the WHATWG event-stream rules castd's stream needs: `event`,
/// `data`, `id`, comments, CRLF or LF line ends, chunks cut anywhere).
#[derive(Debug, Default)]
pub(super) struct SseParser {
    pending: Vec<u8>,
    name: String,
    data: Vec<String>,
    id: Option<String>,
}

impl SseParser {
    /// Feeds a chunk; returns the events it completed.
    pub(super) fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let mut line: Vec<u8> = self.pending.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            if let Some(event) = self.line(&line) {
                events.push(event);
            }
        }
        events
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            if self.data.is_empty() {
                self.name.clear();
                return None;
            }
            let event = SseEvent {
                id: self.id.clone(),
                name: if self.name.is_empty() {
                    "message".into()
                } else {
                    std::mem::take(&mut self.name)
                },
                data: std::mem::take(&mut self.data).join("\n"),
            };
            return Some(event);
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.name = value.to_string(),
            "data" => self.data.push(value.to_string()),
            "id" => self.id = Some(value.to_string()),
            _ => {}
        }
        None
    }
}

/// The periodic events that a person watching the stream rarely wants.
pub(super) fn is_periodic(name: &str) -> bool {
    matches!(name, "nodeStats" | "levels")
}

/// `2026-05-04 10:00:01  captureState  sessionID=… state=capturing`: the event's time, its
/// type and its fields (the envelope's `id`, `time` and `type` left out).
pub(super) fn line(event: &SseEvent) -> String {
    let parsed: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
    let when = match parsed["time"].as_i64() {
        Some(ms) => chrono::TimeZone::timestamp_millis_opt(&chrono::Local, ms)
            .single()
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default(),
        None => chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string(),
    };
    let fields = match &parsed {
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "id" | "time" | "type"))
            .map(|(k, v)| format!("{k}={}", field(v)))
            .collect::<Vec<_>>()
            .join(" "),
        Value::Null => event.data.clone(),
        other => other.to_string(),
    };
    format!("{when}  {}  {fields}", event.name)
        .trim_end()
        .to_string()
}

fn field(value: &Value) -> String {
    match value {
        Value::String(s) if !s.is_empty() && !s.contains(char::is_whitespace) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_cut_anywhere() {
        let stream = b":heartbeat\n\nid: 7\r\nevent: captureState\r\ndata: {\"id\":7,\"type\":\"captureState\",\r\ndata: \"state\":\"capturing\"}\r\n\r\nevent: alarm\ndata: {}\n\n";
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        for chunk in stream.chunks(5) {
            events.extend(parser.feed(chunk));
        }
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].id.as_deref(), Some("7"));
        assert_eq!(events[0].name, "captureState");
        assert_eq!(
            events[0].data,
            "{\"id\":7,\"type\":\"captureState\",\n\"state\":\"capturing\"}"
        );
        assert_eq!(events[1].name, "alarm");
        // The id carries over to later events, as the spec says.
        assert_eq!(events[1].id.as_deref(), Some("7"));
    }

    #[test]
    fn one_line_per_event() {
        let event = SseEvent {
            id: Some("3".into()),
            name: "captureState".into(),
            data: r#"{"id":3,"time":1700000000000,"type":"captureState","sessionID":"s1","state":"paused","title":"Physics 101"}"#.into(),
        };
        let line = line(&event);
        assert!(
            line.contains("  captureState  sessionID=s1 state=paused title=\"Physics 101\""),
            "{line}"
        );
        assert!(!line.contains("type="), "{line}");
    }
}
