//! The HTTP side of castctl: one client with the resolved credentials, requests below
//! `/api/1/`, and answers turned into [`Answer`]s or [`Failure`]s with the API's error code.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

use super::Failure;
use super::credentials::Credentials;

/// Ordinary calls (a cold capture start included) answer well within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) struct Client {
    http: reqwest::Client,
    /// `http://host:port/api/1/`
    base: String,
    credentials: Credentials,
}

/// A successful answer: the body as it came, and parsed.
pub(super) struct Answer {
    pub text: String,
    pub value: Value,
}

impl Client {
    pub(super) fn new(credentials: Credentials) -> Result<Client, Failure> {
        let base = api_base(&credentials.url)?;
        let http = crate::http_client::builder()
            .user_agent(concat!("castctl/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| Failure::Usage(format!("cannot set up HTTP: {e}")))?;
        Ok(Client {
            http,
            base,
            credentials,
        })
    }

    pub(super) fn url(&self) -> &str {
        &self.credentials.url
    }

    /// A request to `path` below `/api/1/`, with credentials.
    pub(super) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.base));
        match &self.credentials.password {
            Some(pw) => builder.basic_auth(&self.credentials.user, Some(pw)),
            None => builder,
        }
    }

    pub(super) async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Answer, Failure> {
        self.call(self.request(Method::GET, path).query(query))
            .await
    }

    pub(super) async fn post(
        &self,
        path: &str,
        form: &[(&str, String)],
    ) -> Result<Answer, Failure> {
        self.call(self.request(Method::POST, path).form(form)).await
    }

    /// Sends a bounded request and reads its whole answer.
    async fn call(&self, request: RequestBuilder) -> Result<Answer, Failure> {
        let response = self.open(request.timeout(REQUEST_TIMEOUT)).await?;
        let text = response
            .text()
            .await
            .map_err(|e| self.connection_failure(&e))?;
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Answer { text, value })
    }

    /// Sends a request and returns the response once its status is a success; the body is
    /// left to the caller (downloads, streams).
    pub(super) async fn open(&self, request: RequestBuilder) -> Result<Response, Failure> {
        let response = request
            .send()
            .await
            .map_err(|e| self.connection_failure(&e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        Err(api_failure(status, body))
    }

    pub(super) fn connection_failure(&self, error: &reqwest::Error) -> Failure {
        // The innermost cause says what happened ("Connection refused"); reqwest's own
        // lines around it only repeat the URL.
        let mut cause: &dyn std::error::Error = error;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        let what = if error.is_timeout() {
            "timed out".to_string()
        } else {
            cause.to_string()
        };
        Failure::Connection(format!("cannot reach castd at {}: {what}", self.url()))
    }
}

/// The error of a non-success answer: castd's `code` and `message` when the body is its
/// error object, else the HTTP status (a proxy's page, a server that is not castd).
pub(super) fn api_failure(status: reqwest::StatusCode, body: String) -> Failure {
    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let code = parsed["code"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("http.{}", status.as_u16()));
    let message = parsed["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
    Failure::Api {
        status: status.as_u16(),
        code,
        message,
        body,
    }
}

/// `http://host:port/api/1/` from what a person types: with or without a scheme, a
/// trailing slash or an API prefix.
fn api_base(url: &str) -> Result<String, Failure> {
    let trimmed = url.trim().trim_end_matches('/');
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("http://{trimmed}")
    };
    let parsed = url::Url::parse(&with_scheme)
        .map_err(|e| Failure::Usage(format!("invalid castd URL {url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Failure::Usage(format!(
            "invalid castd URL {url:?}: expected http://HOST[:PORT]"
        )));
    }
    let root = with_scheme
        .strip_suffix("/api/1")
        .or_else(|| with_scheme.strip_suffix("/api"))
        .unwrap_or(&with_scheme);
    Ok(format!("{root}/api/1/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_base_accepts_what_people_type() {
        for (given, base) in [
            ("http://unit:8080", "http://unit:8080/api/1/"),
            ("http://unit:8080/", "http://unit:8080/api/1/"),
            ("unit:8080", "http://unit:8080/api/1/"),
            ("https://unit/api/1/", "https://unit/api/1/"),
            ("http://10.0.0.5:8080/api", "http://10.0.0.5:8080/api/1/"),
        ] {
            assert_eq!(api_base(given).unwrap(), base, "{given}");
        }
        assert!(matches!(api_base("ftp://unit"), Err(Failure::Usage(_))));
    }

    #[test]
    fn errors_carry_castd_codes_or_the_status() {
        let body = r#"{"error":"Unauthorized","code":"auth.invalid_credentials","message":"wrong user name or password","status_code":401}"#;
        match api_failure(reqwest::StatusCode::UNAUTHORIZED, body.into()) {
            Failure::Api { code, message, .. } => {
                assert_eq!(code, "auth.invalid_credentials");
                assert_eq!(message, "wrong user name or password");
            }
            other => panic!("{other:?}"),
        }
        match api_failure(reqwest::StatusCode::BAD_GATEWAY, "<html>".into()) {
            Failure::Api { code, status, .. } => {
                assert_eq!((code.as_str(), status), ("http.502", 502))
            }
            other => panic!("{other:?}"),
        }
    }
}
