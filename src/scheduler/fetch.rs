//! Fetching a calendar from a URL (an LMS or groupware feed): http, https or webcal only,
//! bounded in time and size, TLS verified against the system's trust store.

use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(20);

/// The URL to fetch: http or https (webcal is https), with a host.
pub fn check_url(url: &str) -> Result<url::Url, String> {
    let url = url.trim();
    let url = match url.strip_prefix("webcal://") {
        Some(rest) => format!("https://{rest}"),
        None => url.to_string(),
    };
    let parsed = url::Url::parse(&url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err("the URL must be http://, https:// or webcal:// with a host".into());
    }
    Ok(parsed)
}

/// The calendar text at `url` (checked with [`check_url`]), at most `limit` bytes.
pub async fn calendar(parsed: url::Url, limit: usize) -> Result<String, String> {
    let client = crate::http_client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let mut response = client
        .get(parsed)
        .header("Accept", "text/calendar, */*;q=0.5")
        .send()
        .await
        .map_err(|e| format!("{e}"))?;
    if !response.status().is_success() {
        return Err(format!("the server answered {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("{e}"))? {
        if body.len() + chunk.len() > limit {
            return Err(format!("the calendar is larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| "the calendar is not UTF-8 text".to_string())
}
