//! The service registry's answer (`GET /services/available.json?serviceType=…`): which
//! base URLs serve capture-admin, the scheduler (its path is `/recordings`) and ingest.
//!
//! Opencast answers one registration as an object, several as an array, and none as
//! `"services": ""` or without the key at all; every shape must read, and only
//! registrations that are online, active and not in maintenance count. The order of the
//! answer (by load) is kept: the caller takes the first or picks among them.

use serde_json::Value;
use url::Url;

/// The service types a capture agent needs.
pub const CAPTURE_ADMIN: &str = "org.opencastproject.capture.admin";
pub const SCHEDULER: &str = "org.opencastproject.scheduler";
pub const INGEST: &str = "org.opencastproject.ingest";

/// The endpoints (`host` + `path`) of the usable registrations of `service_type` in a
/// registry answer, in the registry's order. `Err` when the answer is not a registry
/// answer at all (so a login page or a proxy's error is not read as "no service").
pub fn endpoints(answer: &Value, service_type: &str) -> Result<Vec<Url>, String> {
    let services = answer
        .get("services")
        .ok_or("the answer has no \"services\": not a service registry answer")?;
    let registrations: Vec<&Value> = match services {
        // No registration at all: an empty string, null or an empty object.
        Value::String(s) if s.trim().is_empty() => Vec::new(),
        Value::Null => Vec::new(),
        Value::Object(map) => match map.get("service") {
            None => Vec::new(),
            Some(Value::Array(list)) => list.iter().collect(),
            Some(one @ Value::Object(_)) => vec![one],
            Some(Value::String(s)) if s.trim().is_empty() => Vec::new(),
            Some(other) => return Err(format!("unexpected \"service\": {other}")),
        },
        other => return Err(format!("unexpected \"services\": {other}")),
    };
    let mut found = Vec::new();
    for registration in registrations {
        let text = |key: &str| registration.get(key).and_then(Value::as_str);
        let flag = |key: &str, default: bool| {
            registration
                .get(key)
                .and_then(Value::as_bool)
                .unwrap_or(default)
        };
        if text("type").is_some_and(|t| t != service_type) {
            continue;
        }
        if !flag("online", true) || !flag("active", true) || flag("maintenance", false) {
            continue;
        }
        let (Some(host), Some(path)) = (text("host"), text("path")) else {
            continue;
        };
        let joined = format!("{}{}", host.trim_end_matches('/'), path);
        match Url::parse(&joined) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => found.push(url),
            _ => continue,
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn registration(host: &str, path: &str) -> Value {
        json!({"type": INGEST, "host": host, "path": path, "active": true, "online": true,
               "maintenance": false, "jobproducer": false, "service_state": "NORMAL"})
    }

    #[test]
    fn one_registration_comes_as_an_object() {
        let answer =
            json!({"services": {"service": registration("https://oc.example.edu", "/ingest")}});
        let urls = endpoints(&answer, INGEST).unwrap();
        assert_eq!(urls.len(), 1);
        assert_eq!(urls[0].as_str(), "https://oc.example.edu/ingest");
    }

    #[test]
    fn several_come_as_an_array_in_the_registry_order() {
        let answer = json!({"services": {"service": [
            registration("https://worker2.example.edu/", "/ingest"),
            registration("https://worker1.example.edu", "/ingest"),
        ]}});
        let urls: Vec<String> = endpoints(&answer, INGEST)
            .unwrap()
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            urls,
            [
                "https://worker2.example.edu/ingest",
                "https://worker1.example.edu/ingest"
            ]
        );
    }

    #[test]
    fn none_comes_as_an_empty_string_an_empty_object_or_null() {
        for answer in [
            json!({"services": ""}),
            json!({"services": {}}),
            json!({"services": null}),
            json!({"services": {"service": ""}}),
            json!({"services": {"service": []}}),
        ] {
            assert_eq!(
                endpoints(&answer, INGEST).unwrap(),
                Vec::<Url>::new(),
                "{answer}"
            );
        }
    }

    #[test]
    fn a_page_that_is_not_a_registry_answer_is_an_error() {
        assert!(endpoints(&json!({"user": {}}), INGEST).is_err());
        assert!(endpoints(&json!({"services": 3}), INGEST).is_err());
        assert!(endpoints(&json!({"services": {"service": 3}}), INGEST).is_err());
    }

    #[test]
    fn offline_inactive_maintenance_and_other_types_are_left_out() {
        let mut offline = registration("https://a.example.edu", "/ingest");
        offline["online"] = json!(false);
        let mut inactive = registration("https://b.example.edu", "/ingest");
        inactive["active"] = json!(false);
        let mut maintenance = registration("https://c.example.edu", "/ingest");
        maintenance["maintenance"] = json!(true);
        let mut other = registration("https://d.example.edu", "/capture-admin");
        other["type"] = json!(CAPTURE_ADMIN);
        let good = registration("https://e.example.edu", "/ingest");
        let answer =
            json!({"services": {"service": [offline, inactive, maintenance, other, good]}});
        let urls = endpoints(&answer, INGEST).unwrap();
        assert_eq!(urls.len(), 1);
        assert_eq!(urls[0].host_str(), Some("e.example.edu"));
    }

    #[test]
    fn a_registration_without_a_usable_url_is_left_out() {
        let answer = json!({"services": {"service": [
            {"type": INGEST, "host": "ftp://x", "path": "/ingest"},
            {"type": INGEST, "path": "/ingest"},
            {"type": INGEST, "host": "not a url", "path": "/ingest"},
        ]}});
        assert!(endpoints(&answer, INGEST).unwrap().is_empty());
    }
}
