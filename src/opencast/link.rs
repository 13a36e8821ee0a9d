//! The link to the Opencast server as the daemon holds it: the stored configuration, the
//! connection test, and the service endpoints discovered and kept in SQLite.
//!
//! The configuration is read and written only through here, so the password never leaves
//! it unmasked. The test signs in, checks the user's roles (`/info/me.json` answers anyone,
//! so a 200 proves nothing) and asks the registry for the three services an agent uses;
//! what it finds is stored, so a later outage of the registry does not keep castd from
//! knowing where to report.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use super::client::{Client, Connection, Error};
use super::config::{AgentConfig, Invalid, base_url};
use super::identity::AGENT_ROLES;
use super::registry;
use crate::store::{self, Store, StoreError};

/// How long one request of the connection test may take.
const TEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The services an agent talks to, as the registry names them, with the name castd's
/// answers and overrides use.
pub const SERVICES: [(&str, &str); 3] = [
    ("captureAdmin", registry::CAPTURE_ADMIN),
    ("scheduler", registry::SCHEDULER),
    ("ingest", registry::INGEST),
];

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{0}")]
    Invalid(Invalid),
    #[error("the Opencast link is not configured: {0}")]
    NotConfigured(&'static str),
    #[error(transparent)]
    Opencast(Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the connection test found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestReport {
    /// The user Opencast signed in, and the roles that make it an agent.
    pub username: String,
    pub roles: Vec<String>,
    /// Each service's endpoint (the override where one is set), by castd's service name.
    pub endpoints: Map<String, Value>,
    /// Services the registry lists no usable endpoint for (and no override names).
    pub missing: Vec<String>,
}

/// The Opencast link's configuration and what is known of the server.
#[derive(Clone)]
pub struct Link {
    store: Store,
    host_name: String,
    /// One configuration change or test at a time: a test reads what the change wrote.
    writing: Arc<Mutex<()>>,
}

impl Link {
    pub fn new(store: Store, host_name: String) -> Link {
        Link {
            store,
            host_name,
            writing: Arc::new(Mutex::new(())),
        }
    }

    /// The configuration in force (the initial one on a box never configured).
    pub async fn config(&self) -> Result<AgentConfig, LinkError> {
        let stored = self.store.read(store::opencast::config).await?;
        Ok(stored.unwrap_or_else(|| AgentConfig::initial(&self.host_name)))
    }

    /// Applies an update naming only the fields it changes; answers the masked result.
    pub async fn update(&self, update: Map<String, Value>) -> Result<Value, LinkError> {
        let _one = self.writing.lock().await;
        let before = self.config().await?;
        let config = before.updated(&update).map_err(LinkError::Invalid)?;
        // Another server or another agent name: what was heard from the old one (its
        // calendar and ETag, its endpoints) must not be taken for the new one's.
        let elsewhere = before.url != config.url || before.agent_name != config.agent_name;
        let stored = config.clone();
        self.store
            .write(move |tx| {
                store::opencast::put_config(tx, &stored)?;
                if elsewhere {
                    store::opencast::forget_calendar(tx)?;
                    store::opencast::replace_endpoints(tx, &[])?;
                }
                Ok::<_, StoreError>(())
            })
            .await?;
        Ok(config.masked())
    }

    /// Signs in, checks the roles, discovers the services and stores their endpoints.
    pub async fn test(&self) -> Result<TestReport, LinkError> {
        let _one = self.writing.lock().await;
        let config = self.config().await?;
        if config.url.is_empty() {
            return Err(LinkError::NotConfigured("no url is set"));
        }
        let url = base_url(&config.url).map_err(|reason| {
            LinkError::Invalid(Invalid {
                field: "url".into(),
                reason,
            })
        })?;
        let client = Client::new(Connection {
            url,
            auth: config.auth_method(),
            username: config.username.clone(),
            password: config.password.clone(),
            timeout: TEST_TIMEOUT,
        })
        .map_err(|e| LinkError::Opencast(Error::Invalid(e)))?;
        let identity = client.whoami().await.map_err(LinkError::Opencast)?;
        let overrides = serde_json::to_value(&config.service_overrides)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        let mut endpoints = Map::new();
        let mut missing = Vec::new();
        let mut found = Vec::new();
        for (name, service_type) in SERVICES {
            let url = match overrides.get(name).and_then(Value::as_str) {
                Some(url) => Some(url.to_string()),
                None => client
                    .discover(service_type)
                    .await
                    .map_err(LinkError::Opencast)?
                    .first()
                    .map(|u| u.to_string()),
            };
            match url {
                Some(url) => {
                    endpoints.insert(name.to_string(), Value::String(url.clone()));
                    found.push((service_type.to_string(), url));
                }
                None => missing.push(name.to_string()),
            }
        }
        self.store
            .write(move |tx| store::opencast::replace_endpoints(tx, &found))
            .await?;
        Ok(TestReport {
            username: identity.username,
            roles: identity
                .roles
                .into_iter()
                .filter(|r| AGENT_ROLES.contains(&r.as_str()))
                .collect(),
            endpoints,
            missing,
        })
    }

    /// The endpoints found by the last test or discovery, as stored (none when they cannot
    /// be read: the caller then has nothing to report to, which it notes).
    pub(crate) async fn stored_endpoints(&self) -> Vec<store::opencast::Endpoint> {
        self.store
            .read(store::opencast::endpoints)
            .await
            .unwrap_or_default()
    }

    /// The endpoints found by the last test or discovery, by castd's service name.
    pub async fn endpoints(&self) -> Result<Map<String, Value>, LinkError> {
        let stored = self.store.read(store::opencast::endpoints).await?;
        let mut out = Map::new();
        for endpoint in stored {
            if let Some((name, _)) = SERVICES.iter().find(|(_, t)| *t == endpoint.service) {
                out.insert(
                    (*name).to_string(),
                    serde_json::json!({"url": endpoint.url, "discoveredAt": endpoint.discovered_at}),
                );
            }
        }
        Ok(out)
    }
}
