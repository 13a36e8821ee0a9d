//! Cross-site request forgery: a page on another site must not make a visitor's browser
//! change this unit.
//!
//! A browser that holds Basic credentials for castd (its native prompt appears for any API
//! URL opened directly) sends them with every request to the unit, including a form post or
//! `fetch` started by another site's page. Browsers say where such a request comes from:
//! `Origin` on every request that is not a GET or HEAD, and `Sec-Fetch-Site` in current
//! browsers. So a request that may change something (any method but GET, HEAD and OPTIONS)
//! is refused, before authentication, when
//!
//! - `Sec-Fetch-Site` is `cross-site`, or `same-site` (another host of the same domain is
//!   still another party; castd's own page is `same-origin`), or
//! - `Origin` is present and is not the unit itself: its host and port differ from the
//!   request's `Host` (a missing port is the scheme's default, so `https://unit` matches
//!   `Host: unit` behind a TLS proxy and later when castd serves HTTPS itself), or it is
//!   `null` (sandboxed frames, local files, redirects across sites).
//!
//! Clients that are not browsers (curl, castctl, integrations) send neither header and are
//! not affected. A reverse proxy in front of castd must pass the client's `Host` on.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use super::error::{ApiError, ErrorCode};

/// Middleware: refuses requests that may change something when a browser says another
/// site started them.
pub(crate) async fn refuse_cross_site(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let authority = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    match foreign(req.headers(), authority.as_deref()) {
        None => next.run(req).await,
        Some(reason) => ApiError::new(
            ErrorCode::CrossSite,
            format!(
                "refused {} {}: {reason}; change the unit from its own page or a client that is not a browser",
                req.method(),
                req.uri().path()
            ),
        )
        .with("reason", reason)
        .into_response(),
    }
}

/// Why the request comes from another site, if it does. `authority` is the request's own
/// host and port as the client addressed it.
fn foreign(headers: &HeaderMap, authority: Option<&str>) -> Option<String> {
    let fetch_site = headers
        .get("sec-fetch-site")
        .map(|v| v.to_str().unwrap_or("").trim().to_ascii_lowercase());
    if let Some(site @ ("cross-site" | "same-site")) = fetch_site.as_deref() {
        return Some(format!(
            "the browser says the request comes from a {site} page"
        ));
    }
    let mut origins = headers.get_all(header::ORIGIN).iter();
    let origin = origins.next()?;
    if origins.next().is_some() {
        return Some("the request has more than one Origin".to_string());
    }
    let origin = origin.to_str().unwrap_or("").trim();
    if origin.eq_ignore_ascii_case("null") {
        return Some("the request comes from a page without an origin (Origin: null)".into());
    }
    let own = authority.unwrap_or("");
    if same_origin(origin, own) {
        None
    } else {
        Some(format!(
            "the request comes from a page of {origin}, not of this unit ({own})"
        ))
    }
}

/// Whether `origin` (`scheme://host[:port]`) names the host and port of `authority` (the
/// request's `Host`). Comparison goes through URL parsing, so case, IPv6 brackets and
/// default ports are normalised the same way on both sides.
fn same_origin(origin: &str, authority: &str) -> bool {
    let Ok(origin) = url::Url::parse(origin) else {
        return false;
    };
    if !matches!(origin.scheme(), "http" | "https") || authority.is_empty() {
        return false;
    }
    // The request's own origin has the same scheme (castd answers one scheme per port).
    let Ok(own) = url::Url::parse(&format!("{}://{authority}", origin.scheme())) else {
        return false;
    };
    // `Host` is only host and port; anything more is not a match.
    if own.path() != "/" || own.query().is_some() || !own.username().is_empty() {
        return false;
    }
    origin.host() == own.host() && origin.port_or_known_default() == own.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn verdict(pairs: &[(&str, &str)], host: &str) -> Option<String> {
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        foreign(&headers, Some(host))
    }

    #[test]
    fn the_units_own_origin_passes_with_or_without_default_ports() {
        for (origin, host) in [
            ("http://127.0.0.1:8080", "127.0.0.1:8080"),
            ("http://Unit.Example:8080", "unit.example:8080"),
            ("http://unit.example", "unit.example"),
            ("http://unit.example", "unit.example:80"),
            ("https://unit.example", "unit.example"),
            ("https://unit.example:443", "unit.example"),
            ("http://[::1]:8080", "[::1]:8080"),
        ] {
            assert_eq!(
                verdict(&[("origin", origin)], host),
                None,
                "{origin} {host}"
            );
        }
        // Browsers' own page: same-origin, and `none` (typed URL, bookmark).
        assert_eq!(
            verdict(
                &[
                    ("origin", "http://unit:8080"),
                    ("sec-fetch-site", "same-origin")
                ],
                "unit:8080"
            ),
            None
        );
        assert_eq!(verdict(&[("sec-fetch-site", "none")], "unit:8080"), None);
        // Clients that are not browsers send neither.
        assert_eq!(verdict(&[], "unit:8080"), None);
    }

    #[test]
    fn other_origins_null_and_cross_site_fetches_are_refused() {
        for (origin, host) in [
            ("http://evil.example", "unit.example"),
            ("http://unit.example:8081", "unit.example:8080"),
            ("https://unit.example", "unit.example:80"),
            ("http://unit.example.evil.example", "unit.example"),
            ("null", "unit.example"),
            ("not a url", "unit.example"),
            ("ftp://unit.example", "unit.example"),
            ("http://unit.example", "unit.example/path"),
            ("http://unit.example", ""),
        ] {
            assert!(
                verdict(&[("origin", origin)], host).is_some(),
                "{origin} {host}"
            );
        }
        for site in ["cross-site", "same-site", "Cross-Site"] {
            assert!(
                verdict(&[("sec-fetch-site", site)], "unit").is_some(),
                "{site}"
            );
        }
        // Two origins: refused rather than guessing which one counts.
        assert!(
            verdict(
                &[("origin", "http://unit"), ("origin", "http://evil.example")],
                "unit"
            )
            .is_some()
        );
    }
}
