//! The agent's configuration: where Opencast is, how to sign in, the agent's name, how often
//! to talk, which template records Opencast's events and under which flavors its outputs
//! are ingested.
//!
//! Only an Administrator changes it. An update names only the fields it changes; the
//! password is write-only: answers show it masked, and an update that leaves it out or sends
//! the mask back keeps the stored one. Every field is checked here, so a configuration that
//! passes is one the agent can run with (apart from the server's answers).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use super::agent;
use super::client::AuthMethod;
use crate::secrets;

/// The bounds of the intervals, in seconds (and days for the look-ahead).
pub const POLL_SECS: (u32, u32) = (5, 3_600);
pub const STATE_SECS: (u32, u32) = (10, 600);
pub const LOOKAHEAD_DAYS: (u32, u32) = (1, 365);
pub const FULL_REFRESH_SECS: (u32, u32) = (300, 86_400);
pub const INGEST_DELAY_SECS: (u32, u32) = (0, 3_600);
/// The flavor of an output no node is given one for (a camera's or a microphone's).
pub const DEFAULT_FLAVOR: &str = "presenter/source";

/// Per-service URLs that replace what the registry answers (behind a load balancer the
/// registry names internal hosts).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_admin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentConfig {
    /// Whether castd acts as a capture agent at all.
    pub enabled: bool,
    /// The Opencast admin node, e.g. `https://oc.example.edu`.
    pub url: String,
    /// `basic` (a web UI user with `ROLE_CAPTURE_AGENT`) or `digest` (an in-memory
    /// capture-agent user).
    pub auth: String,
    pub username: String,
    /// Write-only.
    pub password: String,
    pub agent_name: String,
    /// The address Opencast's admin UI links to (this box's API or page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub poll_secs: u32,
    pub state_secs: u32,
    pub lookahead_days: u32,
    pub full_refresh_secs: u32,
    pub service_overrides: ServiceOverrides,
    /// The template that records Opencast's events (id or name).
    #[serde(rename = "templateID")]
    pub template_id: String,
    /// The flavor each recorder node's output is ingested as (node id → `type/subtype`);
    /// outputs of other nodes are [`DEFAULT_FLAVOR`].
    pub flavors: BTreeMap<String, String>,
    pub ingest_delay_secs: u32,
    /// 0: no limit of its own (the unit's upload limit still applies).
    pub ingest_rate_kbps: u32,
    /// Read the schedule and record it, but report nothing and ingest nothing (a second
    /// box recording the same room as a backup).
    pub backup_mode: bool,
}

/// A field that cannot be taken, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> Invalid {
    Invalid {
        field: field.to_string(),
        reason: reason.into(),
    }
}

impl AgentConfig {
    /// The configuration of a box that was never configured: off, Basic, the name derived
    /// from the host name, the stock lecture template.
    pub fn initial(host_name: &str) -> AgentConfig {
        AgentConfig {
            enabled: false,
            url: String::new(),
            auth: AuthMethod::Basic.as_str().to_string(),
            username: String::new(),
            password: String::new(),
            agent_name: agent::default_name(host_name),
            address: None,
            poll_secs: 60,
            state_secs: 60,
            lookahead_days: 14,
            full_refresh_secs: 3_600,
            service_overrides: ServiceOverrides::default(),
            template_id: "lecture".to_string(),
            flavors: BTreeMap::new(),
            ingest_delay_secs: 0,
            ingest_rate_kbps: 0,
            backup_mode: false,
        }
    }

    pub fn auth_method(&self) -> AuthMethod {
        if self.auth == AuthMethod::Digest.as_str() {
            AuthMethod::Digest
        } else {
            AuthMethod::Basic
        }
    }

    /// The flavor of a recorder node's output.
    pub fn flavor_of(&self, node_id: &str) -> &str {
        self.flavors
            .get(node_id)
            .map(String::as_str)
            .unwrap_or(DEFAULT_FLAVOR)
    }

    /// The configuration as answers show it: the password masked.
    #[expect(
        clippy::expect_used,
        reason = "invariant: the configuration serialises"
    )]
    pub fn masked(&self) -> Value {
        let mut shown = self.clone();
        if !shown.password.is_empty() {
            shown.password = secrets::mask(&shown.password);
        }
        serde_json::to_value(shown).expect("the configuration serialises")
    }

    /// This configuration with `update` laid over it: the fields named replace the stored
    /// ones (`null` resets an optional one), a password left out or sent masked is kept.
    /// The result is checked whole.
    #[expect(
        clippy::expect_used,
        reason = "invariant: an object; serialises; the configuration serialises"
    )]
    pub fn updated(&self, update: &Map<String, Value>) -> Result<AgentConfig, Invalid> {
        let mut merged = serde_json::to_value(self).expect("the configuration serialises");
        let fields = merged.as_object_mut().expect("an object");
        for (key, value) in update {
            if !fields.contains_key(key) && !is_optional(key) {
                return Err(invalid(key, "not a field of the Opencast configuration"));
            }
            match (key.as_str(), value) {
                ("password", Value::String(s)) if secrets::is_masked(s) => {}
                (_, Value::Null) if is_optional(key) => {
                    fields.remove(key);
                }
                ("serviceOverrides", Value::Object(overrides)) => {
                    let stored = fields
                        .entry("serviceOverrides")
                        .or_insert_with(|| Value::Object(Map::new()));
                    let stored = stored.as_object_mut().expect("an object");
                    for (service, url) in overrides {
                        match url {
                            Value::Null => {
                                stored.remove(service);
                            }
                            other => {
                                stored.insert(service.clone(), other.clone());
                            }
                        }
                    }
                }
                _ => {
                    fields.insert(key.clone(), value.clone());
                }
            }
        }
        let config: AgentConfig = serde_json::from_value(merged).map_err(|e| {
            let text = e.to_string();
            // serde names unknown fields but not the field of a value of the wrong type:
            // find the update key that cannot be read on its own.
            let field = text
                .split('`')
                .nth(1)
                .map(str::to_string)
                .or_else(|| {
                    update
                        .keys()
                        .find(|key| {
                            let mut one = serde_json::to_value(self).expect("serialises");
                            one[key.as_str()] = update[key.as_str()].clone();
                            serde_json::from_value::<AgentConfig>(one).is_err()
                        })
                        .cloned()
                })
                .unwrap_or_else(|| "configuration".to_string());
            invalid(&field, text)
        })?;
        config.check()?;
        Ok(config)
    }

    /// Checks every field.
    pub fn check(&self) -> Result<(), Invalid> {
        if self.enabled || !self.url.is_empty() {
            base_url(&self.url).map_err(|e| invalid("url", e))?;
        }
        if self.auth != "basic" && self.auth != "digest" {
            return Err(invalid("auth", "\"basic\" or \"digest\""));
        }
        if self.enabled && (self.username.trim().is_empty() || self.password.is_empty()) {
            return Err(invalid(
                "username",
                "an enabled agent needs a user name and a password",
            ));
        }
        agent::validate_name(&self.agent_name).map_err(|e| invalid("agentName", e))?;
        if let Some(address) = &self.address {
            base_url(address).map_err(|e| invalid("address", e))?;
        }
        for (field, value, (low, high)) in [
            ("pollSecs", self.poll_secs, POLL_SECS),
            ("stateSecs", self.state_secs, STATE_SECS),
            ("lookaheadDays", self.lookahead_days, LOOKAHEAD_DAYS),
            ("fullRefreshSecs", self.full_refresh_secs, FULL_REFRESH_SECS),
            ("ingestDelaySecs", self.ingest_delay_secs, INGEST_DELAY_SECS),
        ] {
            if !(low..=high).contains(&value) {
                return Err(invalid(field, format!("between {low} and {high}")));
            }
        }
        let overrides = &self.service_overrides;
        for (name, url) in [
            ("serviceOverrides.captureAdmin", &overrides.capture_admin),
            ("serviceOverrides.scheduler", &overrides.scheduler),
            ("serviceOverrides.ingest", &overrides.ingest),
        ] {
            if let Some(url) = url {
                base_url(url).map_err(|e| invalid(name, e))?;
            }
        }
        if self.template_id.trim().is_empty() {
            return Err(invalid("templateID", "a template id or name"));
        }
        for (node, flavor) in &self.flavors {
            if !valid_flavor(flavor) {
                return Err(invalid(
                    &format!("flavors.{node}"),
                    format!("{flavor:?} is not a flavor such as presentation/source"),
                ));
            }
        }
        Ok(())
    }
}

fn is_optional(key: &str) -> bool {
    key == "address"
}

/// An http(s) URL without credentials, query or fragment.
pub fn base_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?} is not an http(s) URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} names no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials go into username and password, not the URL".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{text:?} has a query or fragment"));
    }
    Ok(url)
}

/// `type/subtype`, each of letters, digits and `._+-`.
pub fn valid_flavor(flavor: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.len() <= 64
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'))
    };
    matches!(flavor.split_once('/'), Some((t, s)) if part(t) && part(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn update(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn enabled() -> AgentConfig {
        AgentConfig::initial("room101")
            .updated(&update(json!({
                "enabled": true, "url": "https://oc.example.edu", "username": "room101",
                "password": "agent-password-1234", "flavors": {"screen": "presentation/source"}
            })))
            .unwrap()
    }

    #[test]
    fn a_new_box_is_off_with_a_name_from_its_host() {
        let config = AgentConfig::initial("Hörsaal 1");
        assert!(!config.enabled);
        assert_eq!(config.agent_name, "castd-H-rsaal-1");
        assert_eq!(config.auth_method(), AuthMethod::Basic);
        assert!(config.check().is_ok());
    }

    #[test]
    fn an_update_changes_only_what_it_names_and_keeps_a_masked_password() {
        let config = enabled();
        assert_eq!(config.flavor_of("screen"), "presentation/source");
        assert_eq!(config.flavor_of("camera"), DEFAULT_FLAVOR);
        let shown = config.masked();
        let mask = shown["password"].as_str().unwrap().to_string();
        assert!(secrets::is_masked(&mask) && !mask.contains("agent-password"));
        let again = config
            .updated(&update(json!({"password": mask, "pollSecs": 30})))
            .unwrap();
        assert_eq!(again.password, "agent-password-1234");
        assert_eq!(again.poll_secs, 30);
        assert_eq!(again.url, "https://oc.example.edu");
        let same = config
            .updated(&update(json!({"agentName": "room-101"})))
            .unwrap();
        assert_eq!(same.password, "agent-password-1234", "left out: kept");
        let changed = config
            .updated(&update(json!({"password": "new-one"})))
            .unwrap();
        assert_eq!(changed.password, "new-one");
    }

    #[test]
    fn an_answer_round_trips_into_the_same_configuration() {
        let config = enabled();
        let shown = config.masked();
        assert_eq!(config.updated(&update(shown)).unwrap(), config);
    }

    #[test]
    fn overrides_and_the_address_are_set_and_cleared_one_by_one() {
        let config = enabled()
            .updated(&update(json!({
                "address": "https://room101.example.edu:8443",
                "serviceOverrides": {"ingest": "https://lb.example.edu/ingest"}
            })))
            .unwrap();
        assert_eq!(
            config.service_overrides.ingest.as_deref(),
            Some("https://lb.example.edu/ingest")
        );
        let config = config
            .updated(&update(json!({
                "serviceOverrides": {"scheduler": "https://oc.example.edu/recordings"}
            })))
            .unwrap();
        assert!(config.service_overrides.ingest.is_some(), "kept");
        assert!(config.service_overrides.scheduler.is_some());
        let config = config
            .updated(&update(
                json!({"address": null, "serviceOverrides": {"ingest": null}}),
            ))
            .unwrap();
        assert_eq!(config.address, None);
        assert_eq!(config.service_overrides.ingest, None);
        assert!(config.service_overrides.scheduler.is_some());
    }

    #[test]
    fn bad_fields_are_named() {
        let config = enabled();
        for (bad, field) in [
            (json!({"url": "ftp://oc.example.edu"}), "url"),
            (json!({"url": "https://user:pw@oc.example.edu"}), "url"),
            (json!({"url": "not a url"}), "url"),
            (json!({"auth": "ntlm"}), "auth"),
            (json!({"agentName": "room 101"}), "agentName"),
            (json!({"pollSecs": 1}), "pollSecs"),
            (json!({"stateSecs": 3600}), "stateSecs"),
            (json!({"lookaheadDays": 0}), "lookaheadDays"),
            (json!({"fullRefreshSecs": 10}), "fullRefreshSecs"),
            (json!({"ingestDelaySecs": 7200}), "ingestDelaySecs"),
            (
                json!({"serviceOverrides": {"ingest": "ingest"}}),
                "serviceOverrides.ingest",
            ),
            (
                json!({"serviceOverrides": {"worker": "https://x"}}),
                "worker",
            ),
            (
                json!({"flavors": {"screen": "presentation"}}),
                "flavors.screen",
            ),
            (json!({"templateID": " "}), "templateID"),
            (json!({"password": ""}), "username"),
            (json!({"secretKey": "x"}), "secretKey"),
            (json!({"pollSecs": "often"}), "pollSecs"),
        ] {
            let error = config.updated(&update(bad.clone())).unwrap_err();
            assert!(
                error.field == field || error.reason.contains(field),
                "{bad}: {error:?}"
            );
        }
        // A box that is off may keep an empty URL and no credentials.
        assert!(
            AgentConfig::initial("x")
                .updated(&update(json!({"pollSecs": 30})))
                .is_ok()
        );
    }

    #[test]
    fn flavors_are_type_slash_subtype() {
        for good in [
            "presenter/source",
            "presentation/source",
            "presenter+audio/work-1.2",
        ] {
            assert!(valid_flavor(good), "{good}");
        }
        for bad in [
            "presenter",
            "/source",
            "presenter/",
            "a/b/c",
            "prä/source",
            "a b/c",
        ] {
            assert!(!valid_flavor(bad), "{bad}");
        }
    }
}
