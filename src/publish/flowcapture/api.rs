//! The Flow Capture API client: endpoint paths below `baseUrl`, JSON `POST`s, and the
//! session token, signed in for on first use and once more when it is refused.
//!
//! It owns the transport and the sign-in; which calls are made, in what order and what
//! their answers mean belongs to the publish flow. It never logs or returns the text of a
//! refused sign-in, since a service may echo the request, API key included.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::config::Config;
use crate::publish::job::Failure;

const API_TIMEOUT: Duration = Duration::from_secs(60);

/// The API below `baseUrl` with the session token; signs in on first use and once more
/// when the token is refused (it may have expired during a long upload).
pub(super) struct Api<'a> {
    http: &'a reqwest::Client,
    pub(super) config: &'a Config,
    base: url::Url,
    token: Mutex<Option<String>>,
}

#[derive(Deserialize)]
struct Token {
    token: String,
}

impl<'a> Api<'a> {
    pub(super) fn new(http: &'a reqwest::Client, config: &'a Config) -> Result<Api<'a>, Failure> {
        let base = url::Url::parse(&config.base_url)
            .ok()
            .filter(|u| !u.cannot_be_a_base())
            .ok_or_else(|| Failure::invalid_config("baseUrl is not a usable URL"))?;
        Ok(Api {
            http,
            config,
            base,
            token: Mutex::new(None),
        })
    }

    /// `path` ("upload/asset/init") below the base URL, whether or not it ends in `/`.
    #[expect(clippy::expect_used, reason = "invariant: checked to be a base")]
    fn endpoint(&self, path: &str) -> url::Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("checked to be a base")
            .pop_if_empty()
            .extend(path.split('/'));
        url
    }

    fn cached_token(&self) -> Option<String> {
        self.token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(super) async fn authenticate(&self) -> Result<String, Failure> {
        let what = "sign-in to Flow Capture";
        let response = self
            .http
            .post(self.endpoint("authenticate/api"))
            .json(&json!({"email": self.config.email, "api_key": self.config.api_key}))
            .timeout(API_TIMEOUT)
            .send()
            .await
            .map_err(|e| Failure::from_http(what, &e))?;
        let status = response.status();
        if !status.is_success() {
            // The answer's text is left out: a service may echo the request, key included.
            return Err(Failure::from_status(what, status, "credentials refused"));
        }
        let token: Token = response
            .json()
            .await
            .map_err(|e| Failure::rejected(format!("{what}: unexpected answer: {e}")))?;
        *self
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(token.token.clone());
        Ok(token.token)
    }

    /// POSTs `body` to `path` and decodes the JSON answer.
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<T, Failure> {
        let (mut token, mut fresh) = match self.cached_token() {
            Some(token) => (token, false),
            None => (self.authenticate().await?, true),
        };
        loop {
            let response = self
                .http
                .post(self.endpoint(path))
                .bearer_auth(&token)
                .json(body)
                .timeout(API_TIMEOUT)
                .send()
                .await
                .map_err(|e| Failure::from_http(path, &e))?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !fresh {
                token = self.authenticate().await?;
                fresh = true;
                continue;
            }
            if !status.is_success() {
                let text = response.text().await.unwrap_or_default();
                return Err(Failure::from_status(path, status, &text));
            }
            return response
                .json()
                .await
                .map_err(|e| Failure::rejected(format!("{path}: unexpected answer: {e}")));
        }
    }

    /// `body` with the configured batch, for the calls that place assets in one.
    pub(super) fn with_batch(&self, mut body: Value) -> Value {
        if let (Some(batch), Some(object)) = (&self.config.batch_name, body.as_object_mut()) {
            object.insert("batch_name".into(), json!(batch));
        }
        body
    }
}

/// Flow Capture ids may come as numbers or strings; they are compared as text.
pub(super) fn id_text(id: &Value) -> Option<String> {
    match id {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::parse;
    use super::super::config::tests::config;
    use super::*;

    #[test]
    fn endpoints_go_below_the_base_with_or_without_a_slash() {
        for base in ["https://fc.example/api/v2", "https://fc.example/api/v2/"] {
            let mut c = parse(&config()).unwrap();
            c.base_url = base.into();
            let http = crate::http_client::builder().build().unwrap();
            let api = Api::new(&http, &c).unwrap();
            assert_eq!(
                api.endpoint("upload/asset/init").as_str(),
                "https://fc.example/api/v2/upload/asset/init"
            );
        }
    }
}
