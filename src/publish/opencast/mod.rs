//! The `opencast` publisher: ingests a package into Opencast through its multi-request
//! ingest REST API, signed in with HTTP Basic. `createMediaPackage` gives an empty media
//! package; `addDCCatalog` adds the episode metadata, `addTrack` each audio or video output
//! and `addAttachment` each other one (streamed as multipart, paced by the bandwidth
//! limit); `ingest/{workflow}` hands the whole package to a workflow.
//!
//! Opencast answers every step with the augmented media package XML and expects that latest
//! copy with the next step, so the XML is the checkpoint: a restarted job goes on with the
//! next track. Once the ingest request may have gone out, a restart first asks Opencast
//! whether the package already has a workflow, so a package is never ingested twice.

mod flavor;
mod upload;
mod xml;

use std::collections::BTreeMap;
use std::fmt;
use std::pin::pin;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use url::Url;

use super::job::{Delivered, Failure, FailureCode, Job, PackageFile, error_chain};
use flavor::{Kind, flavors};
use upload::{Channel, Feed, Multipart, feed};
use xml::{Element, dublin_core, elements, media_package_id, workflow_instance};

pub(crate) const ID: &str = "opencast";
pub(crate) const NAME: &str = "Opencast";
pub(crate) const SECRETS: &[&str] = &["password"];
pub(crate) const SERVICES: &[(&str, &str)] = &[(
    "listWorkflows",
    "Workflow definitions the Opencast server offers: id, title, description.",
)];

/// Requests without media; a healthy server answers them in well under this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// After the last byte of a track Opencast still stores the file before it answers.
const TRACK_ANSWER_TIMEOUT: Duration = Duration::from_secs(600);
/// Bytes of a track read from disk at a time.
const PIECE: u64 = 4 * 1024 * 1024;
/// Flavor of the episode metadata catalog.
const EPISODE_FLAVOR: &str = "dublincore/episode";

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Config {
    /// The Opencast server (admin or ingest node), e.g. `https://opencast.example.org`.
    pub url: String,
    pub username: String,
    pub password: String,
    /// The workflow definition to start; none means the server's default.
    #[serde(rename = "workflowID", default)]
    pub workflow_id: Option<String>,
    /// Workflow configuration properties, sent with the ingest.
    #[serde(default, deserialize_with = "property_values")]
    pub workflow_config: BTreeMap<String, String>,
}

/// The password stays out of logs and error texts.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &"********")
            .field("workflow_id", &self.workflow_id)
            .field("workflow_config", &self.workflow_config)
            .finish()
    }
}

/// Workflow properties are strings to Opencast; JSON booleans and numbers are accepted
/// and sent as their text.
fn property_values<'de, D>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    let raw = Option::<BTreeMap<String, Value>>::deserialize(deserializer)?.unwrap_or_default();
    raw.into_iter()
        .map(|(key, value)| match value {
            Value::String(s) => Ok((key, s)),
            Value::Bool(b) => Ok((key, b.to_string())),
            Value::Number(n) => Ok((key, n.to_string())),
            _ => Err(D::Error::custom(format!(
                "the value of {key:?} must be a string, number or boolean"
            ))),
        })
        .collect()
}

pub(crate) fn parse(config: &Value) -> Result<Config, String> {
    let mut parsed: Config = serde_path_to_error::deserialize(config).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })?;
    base_url(&parsed.url)?;
    if parsed.username.is_empty() {
        return Err("username: required".into());
    }
    // Basic authentication splits user and password at the first colon.
    if parsed.username.contains(':') {
        return Err("username: must not contain `:`".into());
    }
    if parsed.password.is_empty() {
        return Err("password: required".into());
    }
    parsed.workflow_id = parsed
        .workflow_id
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty());
    if let Some(id) = &parsed.workflow_id
        && !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err("workflowID: letters, digits, `-`, `_` or `.` only".into());
    }
    for key in parsed.workflow_config.keys() {
        if key.is_empty() || key == "mediaPackage" {
            return Err(format!(
                "workflowConfig: {key:?} cannot be a workflow property"
            ));
        }
    }
    Ok(parsed)
}

/// The server's base URL: http or https with a host, no query or fragment.
fn base_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("url: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("url: must be an http:// or https:// URL with a host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("url: must not have a query or fragment".into());
    }
    Ok(url)
}

/// `base` with `segments` appended (each escaped as one path segment).
#[expect(clippy::expect_used, reason = "invariant: http URLs have paths")]
fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.path_segments_mut()
        .expect("http URLs have paths")
        .pop_if_empty()
        .extend(segments);
    url
}

/// The Opencast REST endpoints this publisher speaks to, with the credentials.
struct Server<'a> {
    http: &'a reqwest::Client,
    config: &'a Config,
    base: Url,
}

impl<'a> Server<'a> {
    fn new(http: &'a reqwest::Client, config: &'a Config) -> Result<Server<'a>, Failure> {
        let base = base_url(&config.url).map_err(Failure::invalid_config)?;
        Ok(Server { http, config, base })
    }

    fn get(&self, segments: &[&str]) -> reqwest::RequestBuilder {
        self.http
            .get(endpoint(&self.base, segments))
            .basic_auth(&self.config.username, Some(&self.config.password))
            .timeout(REQUEST_TIMEOUT)
    }

    fn post(&self, segments: &[&str]) -> reqwest::RequestBuilder {
        self.http
            .post(endpoint(&self.base, segments))
            .basic_auth(&self.config.username, Some(&self.config.password))
    }

    /// The workflow definitions the server offers.
    async fn workflows(&self) -> Result<Vec<Workflow>, Failure> {
        let what = "list Opencast's workflows";
        let text = answer(
            what,
            self.get(&["workflow", "definitions.json"]).send().await,
        )
        .await?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|_| Failure::rejected(format!("{what}: the answer is not JSON")))?;
        Ok(workflows(&value))
    }

    /// The id of the workflow Opencast runs on media package `id`, if it has one.
    async fn workflow_of(&self, id: &str) -> Result<Option<String>, Failure> {
        let what = "ask Opencast whether the package was ingested";
        let response = self
            .get(&["workflow", "mediaPackage", id, "currentInstance.json"])
            .send()
            .await;
        if let Ok(r) = &response
            && r.status() == StatusCode::NOT_FOUND
        {
            return Ok(None);
        }
        let text = answer(what, response).await?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let workflow = value.get("workflow").unwrap_or(&value);
        Ok(Some(match workflow.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        }))
    }
}

/// The answer's text when it is a success; the failure otherwise.
async fn answer(
    what: &str,
    response: Result<reqwest::Response, reqwest::Error>,
) -> Result<String, Failure> {
    let response = response.map_err(|e| Failure::from_http(what, &e))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| Failure::unreachable(format!("{what}: {}", error_chain(&e))))?;
    if !status.is_success() {
        return Err(Failure::from_status(what, status, &text));
    }
    Ok(text)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct Workflow {
    id: String,
    title: String,
    description: String,
}

/// Workflow definitions out of `/workflow/definitions.json`, which lists them under
/// `definitions.definition` (an object rather than a list when there is only one).
fn workflows(answer: &Value) -> Vec<Workflow> {
    let list = answer
        .pointer("/definitions/definition")
        .or_else(|| answer.get("definitions"))
        .unwrap_or(answer);
    let items: Vec<&Value> = match list {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![list],
        _ => Vec::new(),
    };
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    items
        .into_iter()
        .filter_map(|d| {
            Some(Workflow {
                id: d.get("id")?.as_str()?.to_string(),
                title: text(d, "title"),
                description: text(d, "description"),
            })
        })
        .collect()
}

pub(crate) async fn test(http: &reqwest::Client, config: &Config) -> Result<String, Failure> {
    let server = Server::new(http, config)?;
    let what = "sign in to Opencast";
    let text = answer(what, server.get(&["info", "me.json"]).send().await).await?;
    let me: Value = serde_json::from_str(&text).map_err(|_| {
        Failure::rejected(format!(
            "{what}: the answer is not JSON; is {} an Opencast server?",
            server.base
        ))
    })?;
    // /info/me.json answers anonymous requests too: a server that ignored the credentials
    // names someone else.
    let user = me
        .pointer("/user/username")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !user.eq_ignore_ascii_case(&config.username) {
        return Err(Failure::auth(format!(
            "{what}: Opencast did not accept the credentials of {:?} (it answered as {user:?}); \
             is HTTP Basic authentication enabled on the server?",
            config.username
        )));
    }
    let mut message = format!("signed in to Opencast at {} as {user}", server.base);
    if let Some(id) = &config.workflow_id {
        let offered = server.workflows().await?;
        if !offered.iter().any(|w| w.id == *id) {
            let ids: Vec<&str> = offered.iter().map(|w| w.id.as_str()).collect();
            return Err(Failure::invalid_config(format!(
                "Opencast has no workflow {id:?} (it offers {})",
                ids.join(", ")
            )));
        }
        message.push_str(&format!("; workflow {id:?} exists"));
    }
    Ok(message)
}

pub(crate) async fn service(
    http: &reqwest::Client,
    config: &Config,
    name: &str,
    _args: &Value,
) -> Result<Value, Failure> {
    match name {
        "listWorkflows" => Ok(json!(Server::new(http, config)?.workflows().await?)),
        _ => Err(Failure::invalid_config(format!(
            "the opencast publisher has no service {name:?}"
        ))),
    }
}

/// Resume state of a job.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    /// The server the media package lives on; another one means starting over.
    server: String,
    media_package_id: Option<String>,
    /// Opencast's latest copy of the media package, sent back with the next step.
    media_package: Option<String>,
    catalog: bool,
    /// Entries whose track or attachment Opencast confirmed.
    tracks: Vec<String>,
    /// Set before the ingest request goes out: from then on the package may have a workflow.
    ingesting: bool,
    ingested: bool,
    workflow_id: Option<String>,
}

/// Publishes one media package, going on from the step the checkpoint reached: create the
/// media package, add the episode catalog, add every output, then ingest it into a workflow.
pub(crate) async fn publish(job: &Job, config: &Config) -> Result<Delivered, Failure> {
    let server = Server::new(&job.http, config)?;
    let mut state = resume(job, &server).await;
    let tracks = flavors(&job.package.processing.root, &job.files);
    if !tracks.iter().any(|(_, kind, _)| *kind == Kind::Track) {
        // Every workflow starts from a track; Opencast would take the package and fail it.
        return Err(Failure {
            code: FailureCode::Rejected,
            message: "the package has no audio or video output for Opencast".into(),
            permanent: true,
        });
    }
    job.set_total(job.files.iter().map(|f| f.size).sum());
    job.set_done(confirmed(job, &state));
    if state.ingested {
        return Ok(delivered(&state));
    }
    let (id, mut package) = create_media_package(job, &server, &mut state).await?;
    if !state.catalog {
        package = add_catalog(job, &server, &mut state, &id, &package).await?;
    }
    for (file, kind, flavor) in &tracks {
        if state.tracks.contains(&file.entry) {
            continue;
        }
        job.proceed().await?;
        package = add_element(job, &server, &id, &package, file, *kind, flavor).await?;
        state.tracks.push(file.entry.clone());
        state.media_package = Some(package.clone());
        job.set_done(confirmed(job, &state));
        job.save_checkpoint(&state).await?;
    }
    ingest(job, &server, &mut state, id, &package).await
}

/// The job's checkpoint, unless it belongs to another server: then the job starts over.
async fn resume(job: &Job, server: &Server<'_>) -> State {
    let state: State = job.checkpoint().await.unwrap_or_default();
    if state.server == server.base.as_str() {
        return state;
    }
    State {
        server: server.base.to_string(),
        ..State::default()
    }
}

/// Bytes of the outputs Opencast has confirmed.
fn confirmed(job: &Job, state: &State) -> u64 {
    job.files
        .iter()
        .filter(|f| state.tracks.contains(&f.entry))
        .map(|f| f.size)
        .sum()
}

/// The media package's id and latest XML: the checkpoint's, or a new empty package.
async fn create_media_package(
    job: &Job,
    server: &Server<'_>,
    state: &mut State,
) -> Result<(String, String), Failure> {
    if let (Some(id), Some(xml)) = (&state.media_package_id, &state.media_package) {
        return Ok((id.clone(), xml.clone()));
    }
    job.proceed().await?;
    let what = "create a media package in Opencast";
    let xml = answer(
        what,
        server.get(&["ingest", "createMediaPackage"]).send().await,
    )
    .await?;
    let id = media_package_id(&xml).map_err(|e| Failure::rejected(format!("{what}: {e}")))?;
    state.media_package_id = Some(id.clone());
    state.media_package = Some(xml.clone());
    job.save_checkpoint(&*state).await?;
    Ok((id, xml))
}

/// Adds the episode's Dublin Core catalog; the augmented media package.
async fn add_catalog(
    job: &Job,
    server: &Server<'_>,
    state: &mut State,
    id: &str,
    package: &str,
) -> Result<String, Failure> {
    job.proceed().await?;
    let what = "add the episode metadata in Opencast";
    let catalog = dublin_core(&job.package);
    let form = [
        ("mediaPackage", package),
        ("dublinCore", catalog.as_str()),
        ("flavor", EPISODE_FLAVOR),
    ];
    let request = server
        .post(&["ingest", "addDCCatalog"])
        .timeout(REQUEST_TIMEOUT)
        .form(&form);
    let package = answer(what, request.send().await).await?;
    same_package(what, id, &package)?;
    state.catalog = true;
    state.media_package = Some(package.clone());
    job.save_checkpoint(&*state).await?;
    Ok(package)
}

/// Hands the complete media package to its workflow, once: a previous attempt may have
/// reached Opencast with the ingest and lost the answer, so that is asked first.
async fn ingest(
    job: &Job,
    server: &Server<'_>,
    state: &mut State,
    mut id: String,
    package: &str,
) -> Result<Delivered, Failure> {
    if state.ingesting
        && let Some(workflow) = server.workflow_of(&id).await?
    {
        state.ingested = true;
        state.workflow_id = Some(workflow).filter(|w| !w.is_empty());
        job.save_checkpoint(&*state).await?;
        return Ok(delivered(state));
    }
    state.ingesting = true;
    job.save_checkpoint(&*state).await?;
    job.proceed().await?;
    let (workflow, ingested_id) = start_workflow(server, package).await?;
    if let Some(other) = ingested_id {
        id = other;
    }
    state.media_package_id = Some(id);
    state.ingested = true;
    state.workflow_id = workflow;
    job.save_checkpoint(&*state).await?;
    Ok(delivered(state))
}

/// `ingest/ingest[/{workflow}]` with the workflow properties; the workflow instance's id
/// and the media package id it answered with.
async fn start_workflow(
    server: &Server<'_>,
    package: &str,
) -> Result<(Option<String>, Option<String>), Failure> {
    let config = server.config;
    let what = "start the Opencast workflow";
    let mut form: Vec<(&str, &str)> = vec![("mediaPackage", package)];
    form.extend(
        config
            .workflow_config
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let mut segments = vec!["ingest", "ingest"];
    segments.extend(config.workflow_id.as_deref());
    let request = server.post(&segments).timeout(REQUEST_TIMEOUT).form(&form);
    let response = request.send().await;
    if let Ok(r) = &response
        && r.status() == StatusCode::NOT_FOUND
    {
        return Err(Failure::invalid_config(format!(
            "{what}: Opencast has no workflow {:?}",
            config.workflow_id.as_deref().unwrap_or("(its default)")
        )));
    }
    let instance = answer(what, response).await?;
    workflow_instance(&instance).map_err(|e| Failure::rejected(format!("{what}: {e}")))
}

fn delivered(state: &State) -> Delivered {
    Delivered {
        url: None,
        remote_id: state.media_package_id.clone(),
    }
}

fn same_package(what: &str, id: &str, xml: &str) -> Result<(), Failure> {
    match media_package_id(xml) {
        Ok(answered) if answered == id => Ok(()),
        Ok(answered) => Err(Failure::rejected(format!(
            "{what}: Opencast answered with media package {answered}, not {id}"
        ))),
        Err(e) => Err(Failure::rejected(format!("{what}: {e}"))),
    }
}

/// Uploads one output with `addTrack` or `addAttachment`; returns the augmented media
/// package, once it holds exactly one new element with the MD5 of what was sent.
async fn add_element(
    job: &Job,
    server: &Server<'_>,
    id: &str,
    package: &str,
    file: &PackageFile,
    kind: Kind,
    flavor: &str,
) -> Result<String, Failure> {
    let what = format!("upload {} to Opencast", file.name);
    let (response, sent_md5) =
        send_element(job, server, package, file, kind, flavor, &what).await?;
    let augmented = answer(&what, response).await?;
    let Some(sent_md5) = sent_md5 else {
        return Err(Failure::rejected(format!(
            "{what}: Opencast answered before the whole file was sent"
        )));
    };
    if let Some(recorded) = &file.md5
        && !recorded.eq_ignore_ascii_case(&sent_md5)
    {
        return Err(Failure::io(format!(
            "{} changed on disk since it was recorded (MD5 {sent_md5}, recorded {recorded})",
            file.name
        )));
    }
    same_package(&what, id, &augmented)?;
    check_added(&what, kind, package, &augmented, &sent_md5)?;
    Ok(augmented)
}

/// Streams the form with the file and waits for Opencast's answer; with it the MD5 of
/// what was sent, or none when Opencast answered before the whole file was there.
async fn send_element(
    job: &Job,
    server: &Server<'_>,
    package: &str,
    file: &PackageFile,
    kind: Kind,
    flavor: &str,
    what: &str,
) -> Result<(Result<reqwest::Response, reqwest::Error>, Option<String>), Failure> {
    let size = tokio::fs::metadata(&file.path)
        .await
        .map_err(|e| Failure::io(format!("cannot read {}: {e}", file.path.display())))?
        .len();
    let form = Multipart::new(package, flavor, file);
    let length = form.length(size);
    let (sender, receiver) = mpsc::channel(4);
    let request = server
        .post(&["ingest", kind.endpoint()])
        .header(CONTENT_TYPE, form.content_type())
        .header(CONTENT_LENGTH, length)
        .body(reqwest::Body::wrap(Channel { receiver, length }))
        .send();
    let mut request = pin!(request);
    let mut feeding = pin!(feed(job, file, size, &form, sender));

    // The request ends early when Opencast refuses (bad credentials, no space) before the
    // whole file is there; otherwise the answer comes once the file is stored.
    tokio::select! {
        response = &mut request => Ok((response, None)),
        fed = &mut feeding => {
            let md5 = match fed {
                Ok(md5) => Some(md5),
                Err(Feed::Failed(failure)) => return Err(failure),
                Err(Feed::Closed) => None,
            };
            match tokio::time::timeout(TRACK_ANSWER_TIMEOUT, &mut request).await {
                Ok(response) => Ok((response, md5)),
                Err(_) => Err(Failure::unreachable(format!(
                    "{what}: no answer within {} s after the upload",
                    TRACK_ANSWER_TIMEOUT.as_secs()
                ))),
            }
        }
    }
}

/// The augmented package must hold exactly one element of `kind` more than `before`,
/// and Opencast's MD5 of it (when it gives one) must be the one sent.
fn check_added(
    what: &str,
    kind: Kind,
    before: &str,
    augmented: &str,
    sent_md5: &str,
) -> Result<(), Failure> {
    let listed = |xml: &str| {
        elements(xml, kind.element()).map_err(|e| Failure::rejected(format!("{what}: {e}")))
    };
    let before = listed(before)?;
    let after = listed(augmented)?;
    let added: Vec<&Element> = after
        .iter()
        .filter(|t| !before.iter().any(|b| b.id == t.id))
        .collect();
    let [element] = added.as_slice() else {
        return Err(Failure::rejected(format!(
            "{what}: Opencast's media package gained {} {}s, not one",
            added.len(),
            kind.element()
        )));
    };
    if let Some(md5) = &element.md5
        && !md5.eq_ignore_ascii_case(sent_md5)
    {
        return Err(Failure::rejected(format!(
            "{what}: Opencast stored MD5 {md5}, the file has {sent_md5}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::xml::{iso_duration, speaker_names};
    use super::*;

    #[test]
    fn config_errors_name_the_field() {
        let ok = json!({"url": "https://oc.example.org", "username": "ingest", "password": "pw",
            "workflowID": "fast", "workflowConfig": {"publish": true, "straightToPublishing": "false"}});
        let config = parse(&ok).unwrap();
        assert_eq!(config.workflow_config["publish"], "true");
        assert!(!format!("{config:?}").contains("pw\""));
        for (change, field) in [
            (json!({"url": "ftp://oc.example.org"}), "url"),
            (json!({"url": "not a url"}), "url"),
            (json!({"username": "a:b"}), "username"),
            (json!({"password": ""}), "password"),
            (json!({"workflowID": "fast/../x"}), "workflowID"),
            (json!({"workflowConfig": {"x": [1]}}), "workflowConfig"),
            (
                json!({"workflowConfig": {"mediaPackage": "x"}}),
                "workflowConfig",
            ),
        ] {
            let mut bad = ok.clone();
            for (k, v) in change.as_object().unwrap() {
                bad[k] = v.clone();
            }
            let err = parse(&bad).unwrap_err();
            assert!(err.contains(field), "{field}: {err}");
        }
        let mut missing = ok.clone();
        missing.as_object_mut().unwrap().remove("username");
        assert!(parse(&missing).unwrap_err().contains("username"));
    }

    #[test]
    fn endpoints_escape_segments() {
        let base = base_url("https://oc.example.org/sub/").unwrap();
        assert_eq!(
            endpoint(&base, &["ingest", "ingest", "a b/c"]).as_str(),
            "https://oc.example.org/sub/ingest/ingest/a%20b%2Fc"
        );
    }

    #[test]
    fn speakers_durations_and_answers_are_read() {
        assert_eq!(speaker_names(Some(&json!(7))), Vec::<String>::new());
        assert_eq!(
            speaker_names(Some(&json!(["A", {"name": "B"}, 3]))),
            ["A", "B"]
        );
        assert_eq!(iso_duration(3_500), "PT3.500S");
        let mp = r#"<?xml version="1.0"?><mp:mediapackage xmlns:mp="http://mediapackage.opencastproject.org" id="abc&amp;1"><mp:media><mp:track id="t1" type="presenter/source"><mp:checksum type="md5">ABC</mp:checksum></mp:track><mp:track id="t2"/></mp:media></mp:mediapackage>"#;
        assert_eq!(media_package_id(mp).unwrap(), "abc&1");
        let found = elements(mp, "track").unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].md5.as_deref(), Some("ABC"));
        assert_eq!(found[1].md5, None);
        let wf = r#"<wf:workflow xmlns:wf="http://workflow.opencastproject.org" id="42" state="RUNNING"><mediapackage id="abc"/></wf:workflow>"#;
        assert_eq!(
            workflow_instance(wf).unwrap(),
            (Some("42".into()), Some("abc".into()))
        );
        assert!(media_package_id("<html><p>login</html>").is_err());
        let one = json!({"definitions": {"definition": {"id": "fast", "title": "Fast"}}});
        assert_eq!(workflows(&one)[0].id, "fast");
        let many = json!({"definitions": {"definition": [{"id": "a"}, {"id": "b"}]}});
        assert_eq!(workflows(&many).len(), 2);
    }
}
