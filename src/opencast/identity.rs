//! Who the configured Opencast user is (`GET /info/me.json`) and whether it may act as a
//! capture agent.
//!
//! Opencast answers `/info/me.json` to anyone, anonymous callers included, so a 200 proves
//! nothing about the credentials: the answer's roles must hold `ROLE_CAPTURE_AGENT` or
//! `ROLE_ADMIN`, which are what capture-admin, the calendar and ingest require.

use serde_json::Value;

/// Roles that let a user act as a capture agent.
pub const AGENT_ROLES: &[&str] = &["ROLE_CAPTURE_AGENT", "ROLE_ADMIN"];

/// The user Opencast says the request ran as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub username: String,
    pub organization: Option<String>,
    pub roles: Vec<String>,
}

/// Why the configured user cannot act as a capture agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The answer is not `/info/me.json` (a login page, a proxy's error).
    NotAnAnswer(String),
    /// Opencast ran the request anonymously: the credentials were not taken.
    Anonymous,
    /// The user exists but holds neither agent role.
    MissingRole {
        username: String,
        roles: Vec<String>,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotAnAnswer(why) => write!(f, "not an Opencast /info/me.json answer: {why}"),
            Refusal::Anonymous => write!(
                f,
                "Opencast answered as the anonymous user: the credentials were not accepted"
            ),
            Refusal::MissingRole { username, roles } => write!(
                f,
                "the Opencast user {username:?} holds neither ROLE_CAPTURE_AGENT nor ROLE_ADMIN \
                 (it has {})",
                if roles.is_empty() {
                    "no role".to_string()
                } else {
                    roles.join(", ")
                }
            ),
        }
    }
}

/// Reads a `/info/me.json` answer and checks the agent roles.
pub fn check(answer: &Value) -> Result<Identity, Refusal> {
    let user = answer
        .get("user")
        .and_then(Value::as_object)
        .ok_or_else(|| Refusal::NotAnAnswer("no \"user\" object".into()))?;
    let username = user
        .get("username")
        .and_then(Value::as_str)
        .ok_or_else(|| Refusal::NotAnAnswer("no user name".into()))?
        .to_string();
    let roles: Vec<String> = match answer.get("roles") {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    let organization = answer
        .get("org")
        .and_then(|o| o.get("id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if username == "anonymous" || roles.iter().all(|r| r == "ROLE_ANONYMOUS") {
        return Err(Refusal::Anonymous);
    }
    if !roles.iter().any(|r| AGENT_ROLES.contains(&r.as_str())) {
        return Err(Refusal::MissingRole { username, roles });
    }
    Ok(Identity {
        username,
        organization,
        roles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn me(username: &str, roles: &[&str]) -> Value {
        json!({"org": {"id": "mh_default_org", "name": "Opencast"},
               "roles": roles, "userRole": "ROLE_USER_X",
               "user": {"provider": "opencast", "name": "Room 101", "username": username}})
    }

    #[test]
    fn a_capture_agent_user_or_an_admin_passes() {
        let id = check(&me("room101", &["ROLE_CAPTURE_AGENT", "ROLE_USER"])).unwrap();
        assert_eq!(id.username, "room101");
        assert_eq!(id.organization.as_deref(), Some("mh_default_org"));
        assert!(check(&me("admin", &["ROLE_ADMIN"])).is_ok());
    }

    #[test]
    fn the_anonymous_answer_is_refused_although_it_is_a_200() {
        let anonymous = me("anonymous", &["ROLE_ANONYMOUS"]);
        assert_eq!(check(&anonymous), Err(Refusal::Anonymous));
        assert_eq!(
            check(&me("x", &["ROLE_ANONYMOUS"])),
            Err(Refusal::Anonymous)
        );
    }

    #[test]
    fn a_user_without_the_agent_role_is_refused_with_its_roles() {
        let refusal = check(&me("lecturer", &["ROLE_USER", "ROLE_STUDIO"])).unwrap_err();
        assert_eq!(
            refusal,
            Refusal::MissingRole {
                username: "lecturer".into(),
                roles: vec!["ROLE_USER".into(), "ROLE_STUDIO".into()]
            }
        );
        assert!(refusal.to_string().contains("ROLE_STUDIO"));
    }

    #[test]
    fn an_answer_that_is_not_me_json_is_said_to_be_so() {
        for answer in [
            json!({}),
            json!({"user": "x"}),
            json!({"user": {}}),
            json!([]),
        ] {
            assert!(
                matches!(check(&answer), Err(Refusal::NotAnAnswer(_))),
                "{answer}"
            );
        }
    }
}
