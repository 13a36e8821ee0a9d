//! Fetching a calendar from a URL (an LMS or groupware feed): http, https or webcal only,
//! bounded in time and size, TLS verified against the system's trust store, and only to
//! public addresses unless an administrator allows the host
//! ([`crate::http_client::destination`]). Redirects are followed here, hop by hop, so each
//! target is checked before it is connected to.
//!
//! Whatever goes wrong after the URL is read, the caller learns only that the fetch failed:
//! a different answer for a refused address, a closed port, a timeout or an error status
//! would let a user map the networks the unit can reach. The reason goes to the log.

use std::time::Duration;

use crate::http_client::destination::{self, Allowance};

/// The whole fetch, redirects included.
const TIMEOUT: Duration = Duration::from_secs(30);
const MAX_REDIRECTS: usize = 5;
/// The one thing a client is told when a fetch fails.
pub(crate) const FAILED: &str = "the calendar could not be fetched; the unit's log says why";

/// The URL to fetch: http or https (webcal is https), with a host.
pub(crate) fn check_url(url: &str) -> Result<url::Url, String> {
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

/// The calendar text at `url` (checked with [`check_url`]), at most `limit` bytes. On
/// failure the reason is logged (with the host, never the whole URL, which may carry a
/// token) and `Err` is always [`FAILED`].
pub(crate) async fn calendar(
    url: url::Url,
    limit: usize,
    allowance: &Allowance,
) -> Result<String, String> {
    let host = url.host_str().unwrap_or_default().to_string();
    let fetched = tokio::time::timeout(TIMEOUT, follow(url, limit, allowance))
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", TIMEOUT.as_secs())));
    fetched.map_err(|reason| {
        log::warn!("calendar import from {host}: {reason}");
        FAILED.to_string()
    })
}

async fn follow(mut url: url::Url, limit: usize, allowance: &Allowance) -> Result<String, String> {
    for _ in 0..=MAX_REDIRECTS {
        let addresses = destination::resolve(&url, allowance).await?;
        let mut client = crate::http_client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the name itself, past the check.
            .no_proxy();
        if let Some(url::Host::Domain(name)) = url.host() {
            // Connect to the checked addresses, never to a second lookup's answer.
            client = client.resolve_to_addrs(name, &addresses);
        }
        let client = client
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        let mut response = client
            .get(url.clone())
            .header("Accept", "text/calendar, */*;q=0.5")
            .send()
            .await
            .map_err(|e| format!("{e}"))?;
        if response.status().is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| format!("{} without a Location", response.status()))?;
            let next = url
                .join(location)
                .map_err(|e| format!("redirect to a bad URL: {e}"))?;
            url = check_url(next.as_str())?;
            continue;
        }
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
        // Unfolded before decoding: a fold may fall inside a UTF-8 character.
        return String::from_utf8(super::ical::unfold(&body))
            .map_err(|_| "the calendar is not UTF-8 text".to_string());
    }
    Err(format!("more than {MAX_REDIRECTS} redirects"))
}
