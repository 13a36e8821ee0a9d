//! How castctl shows answers to people: aligned tables, key/value blocks, local times,
//! durations and sizes. Pure functions over the API's JSON, so a field castd adds or drops
//! never breaks a table (a missing one shows as "-").

use chrono::{Local, TimeZone as _};
use serde_json::Value;

/// Columns padded to their widest cell; the last column is not padded.
pub(super) struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(super) fn new(headers: &[&str]) -> Table {
        Table {
            rows: vec![headers.iter().map(|h| h.to_string()).collect()],
        }
    }

    pub(super) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub(super) fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 < row.len() {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 2));
                } else {
                    line.push_str(cell);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `key  value` lines with the keys aligned.
pub(super) fn key_values(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(k, v)| format!("{k:width$}  {v}\n"))
        .collect()
}

/// A JSON field as text: strings bare, null or missing as "-".
pub(super) fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        other => other.to_string(),
    }
}

/// Milliseconds since the epoch as local date and time.
pub(super) fn time(value: &Value) -> String {
    value
        .as_i64()
        .and_then(|ms| Local.timestamp_millis_opt(ms).single())
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "-".into())
}

/// Milliseconds as `1h02m03s`, `2m05s` or `7s`.
pub(super) fn duration_ms(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

pub(super) fn duration(value: &Value) -> String {
    value
        .as_i64()
        .map(duration_ms)
        .unwrap_or_else(|| "-".into())
}

/// Bytes in binary units with one decimal.
pub(super) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The capture status (CaptureStatus) as key/value lines.
pub(super) fn capture_status(status: &Value) -> String {
    let mut pairs = vec![("state", text(&status["state"]))];
    for (label, key) in [
        ("session", "sessionID"),
        ("title", "title"),
        ("template", "templateID"),
        ("package", "mediaPackageID"),
        ("event", "eventID"),
        ("error", "error"),
    ] {
        if !status[key].is_null() {
            pairs.push((label, text(&status[key])));
        }
    }
    if !status["startTime"].is_null() {
        pairs.push(("started", time(&status["startTime"])));
    }
    if !status["elapsed"].is_null() {
        pairs.push(("recorded", duration(&status["elapsed"])));
    }
    if status["pausedTotal"].as_i64().unwrap_or(0) >= 1000 {
        pairs.push(("paused", duration(&status["pausedTotal"])));
    }
    if !status["remaining"].is_null() {
        pairs.push(("remaining", duration(&status["remaining"])));
    }
    key_values(&pairs)
}

/// Devices (getStatusDevices, redetect) as a table.
pub(super) fn devices(list: &Value) -> String {
    let mut table = Table::new(&["ID", "TYPE", "NAME", "PRESENT", "SIGNAL", "IN USE"]);
    for d in list.as_array().into_iter().flatten() {
        table.row(vec![
            text(&d["id"]),
            text(&d["type"]),
            text(&d["name"]),
            text(&d["present"]),
            text(&d["signal"]),
            text(&d["inUse"]),
        ]);
    }
    table.render()
}

/// The overview (getStatus) as key/value lines, then the alarms.
pub(super) fn status(s: &Value) -> String {
    let unit = &s["unit"];
    let capture = &s["capture"];
    let disk = &s["diskSpace"];
    let devices = s["devices"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let present = devices.iter().filter(|d| d["present"] == true).count();
    let no_signal = devices
        .iter()
        .filter(|d| d["present"] == true && d["signal"] != "ok" && d["signal"] != "unknown")
        .count();
    let mut capture_line = text(&capture["state"]);
    if let Some(title) = capture["title"].as_str() {
        capture_line.push_str(&format!(" \"{title}\""));
    }
    if !capture["elapsed"].is_null() {
        capture_line.push_str(&format!(", {} recorded", duration(&capture["elapsed"])));
    }
    let clock = if unit["clockSynchronized"] == false {
        ", clock NOT synchronised"
    } else {
        ""
    };
    let pairs = [
        ("unit", text(&unit["unitName"])),
        (
            "castd",
            format!(
                "{}, up {}",
                text(&unit["version"]),
                duration(&unit["uptime"])
            ),
        ),
        (
            "time",
            format!("{} {}{clock}", time(&unit["time"]), text(&unit["timezone"])),
        ),
        ("capture", capture_line),
        (
            "disk",
            format!(
                "{} usable of {}, about {} min of recording",
                bytes(disk["usable"].as_u64().unwrap_or(0)),
                bytes(disk["total"].as_u64().unwrap_or(0)),
                text(&disk["minutesLeft"])
            ),
        ),
        (
            "devices",
            format!("{present} present, {no_signal} without signal"),
        ),
    ];
    let mut out = key_values(&pairs);
    let alarms = s["alarms"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if alarms.is_empty() {
        out.push_str("\nno alarms\n");
    } else {
        let mut table = Table::new(&["LEVEL", "ALARM", "MESSAGE"]);
        for a in alarms {
            table.row(vec![
                text(&a["level"]),
                text(&a["code"]),
                text(&a["message"]),
            ]);
        }
        out.push('\n');
        out.push_str(&table.render());
    }
    out
}

/// Scheduled events as a table.
pub(super) fn events(list: &Value) -> String {
    let mut table = Table::new(&["START", "STOP", "OUTCOME", "TEMPLATE", "ID", "TITLE"]);
    for e in list.as_array().into_iter().flatten() {
        table.row(vec![
            time(&e["startTime"]),
            time(&e["stopTime"]),
            text(&e["outcome"]),
            text(&e["templateID"]),
            text(&e["id"]),
            text(&e["title"]),
        ]);
    }
    table.render()
}

/// The Opencast link, one fact a line.
pub(super) fn opencast_link(link: &Value) -> String {
    if link["enabled"] != Value::Bool(true) {
        return "Opencast agent mode is off\n".into();
    }
    let failure = match &link["lastError"] {
        Value::Null => "-".to_string(),
        e => format!(
            "{} during {} at {}: {}",
            text(&e["code"]),
            text(&e["during"]),
            time(&e["at"]),
            text(&e["message"])
        ),
    };
    let rejected: Vec<String> = link["rejected"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| format!("{} ({})", text(&r["uid"]), text(&r["reason"])))
        .collect();
    let mut pairs = vec![
        ("agent", text(&link["agentName"])),
        ("state", text(&link["state"])),
        ("backup mode", text(&link["backupMode"])),
        ("last contact", time(&link["lastContact"])),
        ("last failure", failure),
        ("calendar", time(&link["lastCalendar"])),
        ("full calendar", time(&link["lastFullCalendar"])),
        ("events", text(&link["calendarEvents"])),
        ("outbox", text(&link["outbox"])),
        ("ingests", text(&link["ingestQueue"])),
    ];
    if !rejected.is_empty() {
        pairs.push(("not scheduled", rejected.join(", ")));
    }
    key_values(&pairs)
}

/// What the connection test found.
pub(super) fn opencast_test(report: &Value) -> String {
    let roles: Vec<String> = report["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    let mut pairs = vec![
        ("user", text(&report["username"])),
        ("agent roles", roles.join(", ")),
    ];
    let endpoints = report["endpoints"].as_object().cloned().unwrap_or_default();
    let lines: Vec<(String, String)> = endpoints
        .iter()
        .map(|(name, url)| (name.clone(), text(url)))
        .collect();
    for (name, url) in &lines {
        pairs.push((name.as_str(), url.clone()));
    }
    let missing: Vec<String> = report["missing"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    if !missing.is_empty() {
        pairs.push(("missing", missing.join(", ")));
    }
    key_values(&pairs)
}

/// Media packages as a table.
pub(super) fn packages(list: &Value) -> String {
    let mut table = Table::new(&["ID", "CREATED", "STATE", "DURATION", "TITLE"]);
    for p in list.as_array().into_iter().flatten() {
        table.row(vec![
            text(&p["id"]),
            time(&p["creationDate"]),
            text(&p["state"]),
            duration(&p["duration"]),
            text(&p["title"]),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_columns() {
        let mut t = Table::new(&["ID", "NAME"]);
        t.row(vec!["test:camera".into(), "Camera".into()]);
        t.row(vec!["x".into(), "Microphone".into()]);
        assert_eq!(
            t.render(),
            "ID           NAME\ntest:camera  Camera\nx            Microphone\n"
        );
    }

    #[test]
    fn figures_for_people() {
        assert_eq!(duration_ms(3_723_000), "1h02m03s");
        assert_eq!(duration_ms(125_400), "2m05s");
        assert_eq!(duration_ms(7_999), "7s");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 * 1024 / 2), "1.5 MiB");
        assert_eq!(text(&json!(null)), "-");
        assert_eq!(text(&json!(true)), "yes");
    }

    #[test]
    fn missing_fields_do_not_break_the_overview() {
        let out = status(&json!({"unit": {"unitName": "Hall 3"}, "alarms": [
            {"level": "warning", "code": "disk.low", "message": "under an hour left"}]}));
        assert!(out.contains("Hall 3"), "{out}");
        assert!(out.contains("disk.low"), "{out}");
    }
}
