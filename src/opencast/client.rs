//! The agent's HTTP conversation with Opencast: who the configured user is, the service
//! registry, agent state and configuration, recording states and the calendar.
//!
//! Authentication follows what Opencast's security layer does with each request. Basic is
//! sent up front with `X-Requested-Auth: Basic`, because a request without credentials is
//! redirected to the login page (a 302 that, followed, looks like a 200 HTML answer).
//! Digest (Opencast's in-memory capture-agent users) asks for the challenge with
//! `X-Requested-Auth: Digest`, keeps it and counts `nc` up on it, and takes a new nonce
//! when the old one is stale. Redirects are never followed: a 3xx is an error that says
//! the credentials were not taken. Every answer read into memory is capped.
//!
//! This is the one place that talks to Opencast's agent endpoints; it never sits on the
//! capture path (callers run it from their own tasks with cached endpoints).

use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{
    AUTHORIZATION, ETAG, HeaderValue, IF_NONE_MATCH, LOCATION, WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode};
use url::Url;

use super::agent::{AgentState, RecordingState};
use super::digest::Challenge;
use super::identity::{self, Identity, Refusal};
use super::registry;

/// The most of an answer read into memory: a year of a busy room's calendar with its
/// catalogs is a few MiB.
pub const ANSWER_MAX: usize = 16 * 1024 * 1024;

/// How the agent signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Basic,
    Digest,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Basic => "basic",
            AuthMethod::Digest => "digest",
        }
    }
}

/// Where the agent talks to and as whom.
#[derive(Clone)]
pub struct Connection {
    /// The admin node, e.g. `https://oc.example.edu` (no trailing slash needed).
    pub url: Url,
    pub auth: AuthMethod,
    pub username: String,
    pub password: String,
    /// Connect and whole-request timeout for everything but uploads.
    pub timeout: Duration,
}

/// Why a call to Opencast failed. Each has a stable code for the API and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// No connection, a timeout, or a broken answer on the wire.
    Unreachable(String),
    /// A redirect (to the login page, normally): the credentials were not taken.
    Redirected(String),
    /// 401: wrong user name or password (or the wrong kind of user for the method).
    Unauthorized,
    /// 403: the user may not use this endpoint.
    Forbidden(String),
    /// The user signed in but holds no agent role.
    Role(Refusal),
    /// 404 on a recording state: the id is not a scheduled event.
    NotScheduled(String),
    /// Any other answer outside 2xx.
    Status(u16, String),
    /// The answer could not be read (not the format asked for, or larger than allowed).
    Invalid(String),
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unreachable(_) => "opencast.unreachable",
            Error::Redirected(_) => "opencast.redirected",
            Error::Unauthorized => "opencast.unauthorized",
            Error::Forbidden(_) => "opencast.forbidden",
            Error::Role(_) => "opencast.missing_role",
            Error::NotScheduled(_) => "opencast.not_scheduled",
            Error::Status(..) => "opencast.server_error",
            Error::Invalid(_) => "opencast.invalid_answer",
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Unreachable(why) => write!(f, "Opencast is unreachable: {why}"),
            Error::Redirected(to) => write!(
                f,
                "Opencast redirected to {to}: the credentials were not taken (Basic must be \
                 sent up front; Digest needs an in-memory capture-agent user)"
            ),
            Error::Unauthorized => write!(f, "Opencast refused the user name or password (401)"),
            Error::Forbidden(what) => write!(f, "Opencast forbids this user {what} (403)"),
            Error::Role(refusal) => write!(f, "{refusal}"),
            Error::NotScheduled(uid) => write!(f, "{uid} is not a scheduled event in Opencast"),
            Error::Status(status, text) => write!(f, "Opencast answered {status}: {text}"),
            Error::Invalid(why) => write!(f, "Opencast's answer is unreadable: {why}"),
        }
    }
}

impl std::error::Error for Error {}

/// A calendar fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// 304: the calendar is the one whose ETag was sent.
    NotModified,
    /// 200: the calendar and its ETag (exactly as sent, to send back verbatim).
    Calendar { etag: Option<String>, body: Vec<u8> },
}

/// The Digest challenge in use and how many requests went out on its nonce.
struct DigestState {
    challenge: Challenge,
    count: u32,
}

/// A client for one Opencast server and user.
pub struct Client {
    http: reqwest::Client,
    connection: Connection,
    digest: Mutex<Option<DigestState>>,
}

/// The start of an answer's text, for error messages.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `base` with `segments` appended, each percent-encoded as one segment.
pub fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        for segment in segments {
            path.push(segment);
        }
    }
    url
}

impl Client {
    pub fn new(connection: Connection) -> Result<Client, String> {
        if !matches!(connection.url.scheme(), "http" | "https") {
            return Err(format!("{} is not an http(s) URL", connection.url));
        }
        let http = crate::http_client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connection.timeout)
            .timeout(connection.timeout)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Client {
            http,
            connection,
            digest: Mutex::new(None),
        })
    }

    pub fn base(&self) -> &Url {
        &self.connection.url
    }

    /// The `Authorization` value for a Digest request, counting the nonce's use.
    fn digest_authorization(&self, method: &Method, url: &Url) -> Option<String> {
        let mut state = self.digest.lock().unwrap_or_else(|e| e.into_inner());
        let state = state.as_mut()?;
        state.count += 1;
        let uri = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let cnonce = format!("{:016x}", rand::random::<u64>());
        Some(state.challenge.authorization(
            method.as_str(),
            &uri,
            &self.connection.username,
            &self.connection.password,
            state.count,
            &cnonce,
        ))
    }

    fn request(&self, method: &Method, url: &Url) -> reqwest::RequestBuilder {
        let builder = self.http.request(method.clone(), url.clone());
        match self.connection.auth {
            AuthMethod::Basic => builder
                .header("X-Requested-Auth", "Basic")
                .basic_auth(&self.connection.username, Some(&self.connection.password)),
            AuthMethod::Digest => {
                let builder = builder.header("X-Requested-Auth", "Digest");
                match self.digest_authorization(method, url) {
                    Some(value) => builder.header(AUTHORIZATION, value),
                    None => builder,
                }
            }
        }
    }

    /// Sends one request (with a form when given) and reads the answer, capped. Digest
    /// answers a challenge (or a stale nonce) by sending again, at most twice.
    async fn call(
        &self,
        method: Method,
        url: &Url,
        form: Option<&[(&str, &str)]>,
        etag: Option<&str>,
    ) -> Result<(StatusCode, reqwest::header::HeaderMap, Vec<u8>), Error> {
        for _ in 0..3 {
            let mut request = self.request(&method, url);
            if let Some(form) = form {
                request = request.form(form);
            }
            if let Some(etag) = etag.and_then(|e| HeaderValue::from_str(e).ok()) {
                request = request.header(IF_NONE_MATCH, etag);
            }
            let answer = request
                .send()
                .await
                .map_err(|e| Error::Unreachable(crate::publish::job::error_chain(&e)))?;
            let status = answer.status();
            let headers = answer.headers().clone();
            if status == StatusCode::UNAUTHORIZED && self.connection.auth == AuthMethod::Digest {
                let challenge = headers
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(Challenge::parse);
                let mut state = self.digest.lock().unwrap_or_else(|e| e.into_inner());
                let had_one = state.is_some();
                match challenge {
                    // A first challenge, or a stale nonce: sign again with the new one.
                    Some(c) if !had_one || c.stale => {
                        *state = Some(DigestState {
                            challenge: c,
                            count: 0,
                        });
                        continue;
                    }
                    // A fresh challenge after a signed request: the password is wrong.
                    _ => {
                        *state = None;
                        return Err(Error::Unauthorized);
                    }
                }
            }
            let body = read_capped(answer).await?;
            return Ok((status, headers, body));
        }
        Err(Error::Unauthorized)
    }

    /// Like [`Client::call`], but anything outside 2xx (and 304 when asked) is an error.
    async fn call_ok(
        &self,
        method: Method,
        url: &Url,
        form: Option<&[(&str, &str)]>,
        what: &str,
    ) -> Result<Vec<u8>, Error> {
        let (status, headers, body) = self.call(method, url, form, None).await?;
        check(status, &headers, &body, what)?;
        Ok(body)
    }

    /// Who the configured user is; an error unless it may act as a capture agent.
    pub async fn whoami(&self) -> Result<Identity, Error> {
        let url = endpoint(&self.connection.url, &["info", "me.json"]);
        let body = self
            .call_ok(Method::GET, &url, None, "reading /info/me.json")
            .await?;
        let answer: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| Error::Invalid(e.to_string()))?;
        identity::check(&answer).map_err(|refusal| match refusal {
            Refusal::NotAnAnswer(why) => Error::Invalid(why),
            other => Error::Role(other),
        })
    }

    /// The usable endpoints of a service type, in the registry's order.
    pub async fn discover(&self, service_type: &str) -> Result<Vec<Url>, Error> {
        let mut url = endpoint(&self.connection.url, &["services", "available.json"]);
        url.query_pairs_mut()
            .append_pair("serviceType", service_type);
        let body = self
            .call_ok(Method::GET, &url, None, "asking the service registry")
            .await?;
        let answer: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| Error::Invalid(e.to_string()))?;
        registry::endpoints(&answer, service_type).map_err(Error::Invalid)
    }

    /// Reports the agent's state (and the address its admin link points to).
    pub async fn set_agent_state(
        &self,
        capture_admin: &Url,
        agent: &str,
        state: AgentState,
        address: Option<&str>,
    ) -> Result<(), Error> {
        let url = endpoint(capture_admin, &["agents", agent]);
        let mut form = vec![("state", state.as_str())];
        if let Some(address) = address {
            form.push(("address", address));
        }
        self.call_ok(Method::POST, &url, Some(&form), "setting the agent state")
            .await
            .map(drop)
    }

    /// Registers the agent's configuration (a JSON object of strings).
    pub async fn set_agent_configuration(
        &self,
        capture_admin: &Url,
        agent: &str,
        configuration: &str,
    ) -> Result<(), Error> {
        let url = endpoint(capture_admin, &["agents", agent, "configuration"]);
        let form = [("configuration", configuration)];
        self.call_ok(
            Method::POST,
            &url,
            Some(&form),
            "setting the agent configuration",
        )
        .await
        .map(drop)
    }

    /// Reports a scheduled recording's state; `NotScheduled` when Opencast does not know
    /// the id as a scheduled event.
    pub async fn set_recording_state(
        &self,
        capture_admin: &Url,
        uid: &str,
        state: RecordingState,
    ) -> Result<(), Error> {
        let url = endpoint(capture_admin, &["recordings", uid]);
        let form = [("state", state.as_str())];
        let (status, headers, body) = self.call(Method::POST, &url, Some(&form), None).await?;
        if status == StatusCode::NOT_FOUND {
            return Err(Error::NotScheduled(uid.to_string()));
        }
        check(status, &headers, &body, "setting a recording state")
    }

    /// Fetches the agent's calendar with events starting before `cutoff_ms` (absolute, ms
    /// since the epoch). `etag` is sent back exactly as Opencast gave it.
    pub async fn calendar(
        &self,
        scheduler: &Url,
        agent: &str,
        cutoff_ms: i64,
        etag: Option<&str>,
    ) -> Result<Fetched, Error> {
        let mut url = endpoint(scheduler, &["calendars"]);
        url.query_pairs_mut()
            .append_pair("agentid", agent)
            .append_pair("cutoff", &cutoff_ms.to_string());
        let (status, headers, body) = self.call(Method::GET, &url, None, etag).await?;
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        check(status, &headers, &body, "fetching the calendar")?;
        let etag = headers
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Fetched::Calendar { etag, body })
    }
}

/// Reads an answer's body, refusing one larger than [`ANSWER_MAX`].
async fn read_capped(mut answer: reqwest::Response) -> Result<Vec<u8>, Error> {
    if answer
        .content_length()
        .is_some_and(|n| n > ANSWER_MAX as u64)
    {
        return Err(Error::Invalid(format!(
            "the answer is larger than {} MiB",
            ANSWER_MAX / 1024 / 1024
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = answer
        .chunk()
        .await
        .map_err(|e| Error::Unreachable(crate::publish::job::error_chain(&e)))?
    {
        if body.len() + chunk.len() > ANSWER_MAX {
            return Err(Error::Invalid(format!(
                "the answer is larger than {} MiB",
                ANSWER_MAX / 1024 / 1024
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Maps an answer outside 2xx to its error.
fn check(
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
    what: &str,
) -> Result<(), Error> {
    if status.is_success() {
        return Ok(());
    }
    if status.is_redirection() {
        let to = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("somewhere");
        return Err(Error::Redirected(to.to_string()));
    }
    Err(match status {
        StatusCode::UNAUTHORIZED => Error::Unauthorized,
        StatusCode::FORBIDDEN => Error::Forbidden(what.to_string()),
        other => Error::Status(other.as_u16(), format!("{what}: {}", excerpt(body))),
    })
}
