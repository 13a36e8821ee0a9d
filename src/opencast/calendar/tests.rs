//! The calendar reader on calendars written the way Opencast's ical4j writes them.

use super::*;

/// Folds a line at 75 octets as ical4j does: by bytes, wherever the 75th octet falls.
fn fold(line: &str) -> Vec<u8> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    let mut first = true;
    for chunk in bytes.chunks(74) {
        if !first {
            out.extend_from_slice(b"\r\n ");
        }
        out.extend_from_slice(chunk);
        first = false;
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

struct Vevent<'a> {
    uid: &'a str,
    start: &'a str,
    end: &'a str,
    title: &'a str,
    properties: Option<&'a str>,
    extra: Vec<String>,
}

fn vevent(e: &Vevent<'_>) -> Vec<String> {
    let mut lines = vec![
        "BEGIN:VEVENT".to_string(),
        "DTSTAMP:20250303T084003Z".to_string(),
        format!("DTSTART:{}", e.start),
        format!("DTEND:{}", e.end),
        format!("SUMMARY:{}", e.title),
        format!("UID:{}", e.uid),
        "LAST-MODIFIED:20250301T124119Z".to_string(),
        "LOCATION:castd-room101".to_string(),
    ];
    lines.extend(e.extra.iter().cloned());
    lines.push(format!(
        "ATTACH;FMTTYPE=application/xml;VALUE=BINARY;ENCODING=BASE64;X-APPLE-FILENAME=episode.xml:{}",
        b64("<?xml version=\"1.0\"?><dublincore xmlns=\"http://www.opencastproject.org/xsd/1.0/dublincore/\"/>")
    ));
    if let Some(p) = e.properties {
        lines.push(format!(
            "ATTACH;FMTTYPE=application/text;VALUE=BINARY;ENCODING=BASE64;X-APPLE-FILENAME={AGENT_PROPERTIES}:{}",
            b64(p)
        ));
    }
    lines.push("END:VEVENT".to_string());
    lines
}

fn calendar(events: &[Vevent<'_>]) -> Vec<u8> {
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_string(),
        "PRODID:Opencast Calendar File 0.5".to_string(),
        "VERSION:2.0".to_string(),
        "CALSCALE:GREGORIAN".to_string(),
    ];
    for e in events {
        lines.extend(vevent(e));
    }
    lines.push("END:VCALENDAR".to_string());
    lines.iter().flat_map(|l| fold(l)).collect()
}

const PROPERTIES: &str = "#Capture Agent specific data\n#Mon Mar 03 08:40:03 UTC 2025\n\
capture.device.names=camera,screen\n\
org.opencastproject.workflow.definition=fast\n\
org.opencastproject.workflow.config.straightToPublishing=true\n\
org.opencastproject.workflow.config.flagQuality720p=true\n\
event.title=Linear Algebra 1\n\
event.location=castd-room101\n\
event.series=9af2fc6a-4f8a-4b8e-a1a4-6d0b3f7b7c11\n\
odd.value=a=b=c\n";

fn lecture<'a>(uid: &'a str, start: &'a str, end: &'a str) -> Vevent<'a> {
    Vevent {
        uid,
        start,
        end,
        title: "Linear Algebra 1",
        properties: Some(PROPERTIES),
        extra: Vec::new(),
    }
}

fn ms(text: &str) -> i64 {
    utc(text).unwrap()
}

#[test]
fn an_opencast_calendar_reads_with_its_agent_properties() {
    let ics = calendar(&[lecture(
        "68b19d11-6aca-413e-b2b3-eda72eebc65a",
        "20250303T090000Z",
        "20250303T103000Z",
    )]);
    let cal = parse(&ics).unwrap();
    assert!(cal.rejected.is_empty(), "{:?}", cal.rejected);
    let e = &cal.events[0];
    assert_eq!(e.uid, "68b19d11-6aca-413e-b2b3-eda72eebc65a");
    assert_eq!(e.start_ms, 1_740_992_400_000);
    assert_eq!(e.end_ms - e.start_ms, 90 * 60 * 1000);
    assert_eq!(e.title, "Linear Algebra 1");
    assert_eq!(e.location.as_deref(), Some("castd-room101"));
    assert_eq!(e.last_modified_ms, Some(ms("20250301T124119Z")));
    let p = &e.properties;
    let inputs: Vec<&str> = p
        .inputs
        .as_ref()
        .unwrap()
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(inputs, ["camera", "screen"]);
    assert_eq!(p.workflow.as_deref(), Some("fast"));
    assert_eq!(p.workflow_config["straightToPublishing"], "true");
    assert_eq!(p.workflow_config["flagQuality720p"], "true");
    assert_eq!(p.workflow_config.len(), 2);
    assert_eq!(p.all["odd.value"], "a=b=c", "split at the first '=' only");
    assert!(
        !p.all.keys().any(|k| k.starts_with('#')),
        "comment lines skipped"
    );
    assert_eq!(e.attachments.len(), 1);
    assert_eq!(e.attachments[0].filename, "episode.xml");
    assert!(e.attachments[0].data.starts_with(b"<?xml"));
}

#[test]
fn a_fold_after_a_space_or_inside_a_character_changes_nothing() {
    // "SUMMARY:" and 65 octets put the first fold (after octet 74) right after the space
    // in the first title and between the two octets of "ä" in the second.
    let spaced = format!("{} Algebra and more", "x".repeat(65));
    let umlaut = format!("{}ä and more", "x".repeat(65));
    for title in [spaced.as_str(), umlaut.as_str()] {
        let ics = calendar(&[Vevent {
            title,
            ..lecture("u1", "20250303T090000Z", "20250303T103000Z")
        }]);
        assert!(
            ics.windows(3).any(|w| w == b"\r\n "),
            "the title was folded"
        );
        let cal = parse(&ics).unwrap();
        assert_eq!(cal.events[0].title, title);
    }
}

#[test]
fn the_folding_of_base64_attachments_is_undone() {
    let long = format!(
        "capture.device.names=camera\norg.opencastproject.workflow.config.comment={}\n",
        "y".repeat(400)
    );
    let ics = calendar(&[Vevent {
        properties: Some(&long),
        ..lecture("u1", "20250303T090000Z", "20250303T103000Z")
    }]);
    let cal = parse(&ics).unwrap();
    assert_eq!(
        cal.events[0].properties.workflow_config["comment"],
        "y".repeat(400)
    );
}

#[test]
fn no_chosen_inputs_means_every_input() {
    for props in [
        Some("capture.device.names=\norg.opencastproject.workflow.definition=fast\n"),
        Some("org.opencastproject.workflow.definition=fast\n"),
        Some("capture.device.names= , \n"),
        None,
    ] {
        let ics = calendar(&[Vevent {
            properties: props,
            ..lecture("u1", "20250303T090000Z", "20250303T103000Z")
        }]);
        let cal = parse(&ics).unwrap();
        assert_eq!(cal.events[0].properties.inputs, None, "{props:?}");
    }
}

#[test]
fn running_and_just_ended_events_are_read_but_only_unfinished_ones_are_to_record() {
    let ics = calendar(&[
        lecture("later", "20250303T120000Z", "20250303T130000Z"),
        lecture("ended", "20250303T080000Z", "20250303T085900Z"),
        lecture("running", "20250303T083000Z", "20250303T093000Z"),
    ]);
    let cal = parse(&ics).unwrap();
    assert_eq!(cal.events.len(), 3);
    let now = ms("20250303T090000Z");
    let uids: Vec<&str> = cal.to_record(now).iter().map(|e| e.uid.as_str()).collect();
    assert_eq!(uids, ["running", "later"]);
}

#[test]
fn events_that_cannot_be_recorded_are_rejected_with_the_reason() {
    let ics = calendar(&[
        lecture("zoned", "20250303T090000", "20250303T100000"),
        lecture("backwards", "20250303T100000Z", "20250303T090000Z"),
        lecture("twice", "20250303T090000Z", "20250303T100000Z"),
        lecture("twice", "20250304T090000Z", "20250304T100000Z"),
        lecture("", "20250303T090000Z", "20250303T100000Z"),
        Vevent {
            extra: vec![format!(
                "ATTACH;ENCODING=BASE64;X-APPLE-FILENAME=big.xml:{}",
                "A".repeat(ATTACHMENT_MAX / 3 * 4 + 8)
            )],
            ..lecture("big", "20250303T090000Z", "20250303T100000Z")
        },
        Vevent {
            extra: vec!["ATTACH;ENCODING=BASE64;X-APPLE-FILENAME=x.xml:!!!".into()],
            ..lecture("garbled", "20250303T090000Z", "20250303T100000Z")
        },
    ]);
    let cal = parse(&ics).unwrap();
    let kept: Vec<&str> = cal.events.iter().map(|e| e.uid.as_str()).collect();
    assert_eq!(kept, ["twice"]);
    assert_eq!(
        cal.events[0].start_ms,
        ms("20250303T090000Z"),
        "the first one wins"
    );
    let reasons: BTreeMap<&str, &str> = cal
        .rejected
        .iter()
        .map(|r| (r.uid.as_str(), r.reason.as_str()))
        .collect();
    assert!(reasons["zoned"].contains("not a UTC time"), "{reasons:?}");
    assert!(reasons["backwards"].contains("ends before it starts"));
    assert!(reasons["twice"].contains("second event"));
    assert!(reasons[""].contains("no UID"));
    assert!(reasons["big"].contains("larger than"));
    assert!(reasons["garbled"].contains("not base64"));
}

#[test]
fn a_page_that_is_not_a_calendar_is_an_error_not_an_empty_calendar() {
    assert!(parse(b"<html><body>Opencast login</body></html>").is_err());
    assert!(parse(b"").is_err());
    let mut cut = calendar(&[lecture("u1", "20250303T090000Z", "20250303T103000Z")]);
    cut.truncate(cut.len() / 2);
    assert!(
        parse(&cut).is_err(),
        "a calendar cut short keeps the old one"
    );
    assert!(parse(&[0xff, 0xfe, b'B']).is_err());
}

#[test]
fn an_empty_calendar_and_an_old_core_read() {
    let empty = b"BEGIN:VCALENDAR\r\nPRODID:Opencast Matterhorn Calendar File 0.5\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n";
    assert_eq!(parse(empty).unwrap(), Calendar::default());
    let lf_only = String::from_utf8(calendar(&[lecture(
        "31295",
        "20250303T090000Z",
        "20250303T103000Z",
    )]))
    .unwrap()
    .replace("\r\n", "\n");
    let cal = parse(lf_only.as_bytes()).unwrap();
    assert_eq!(cal.events[0].uid, "31295");
    assert_eq!(cal.events[0].properties.workflow.as_deref(), Some("fast"));
}

#[test]
fn quoted_parameters_and_escaped_text_read() {
    let line =
        content_line("ATTACH;FMTTYPE=\"a;b:c\";X-APPLE-FILENAME=x.xml:value:with:colons").unwrap();
    assert_eq!(line.name, "ATTACH");
    assert_eq!(line.param("fmttype"), Some("a;b:c"));
    assert_eq!(line.param("X-APPLE-FILENAME"), Some("x.xml"));
    assert_eq!(line.value, "value:with:colons");
    assert_eq!(unescape("a\\, b\\; c\\nd\\\\e"), "a, b; c\nd\\e");
    assert!(content_line("NOCOLON").is_err());
    assert!(content_line("X;P=\"open:v").is_err());
    assert!(content_line(":v").is_err());
}
