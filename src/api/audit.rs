//! The audit middleware: records every state-changing call on the audit trail.
//!
//! It wraps the whole router, so refused calls (401, 403, 408, 413, 422 …) are recorded
//! too. What it cannot see in the request it reads from the answer: the route layer marks
//! the matched pattern, the permission gate the authenticated user, and every error answer
//! its code.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::RoutePattern;
use super::auth::{CurrentUser, client_ip};
use super::error::ErrorCode;
use crate::audit::{Audit, AuditEntry};
use crate::sys::time::now_ms;

/// GETs that change state or hand out the unit's data, recorded like POSTs.
const AUDITED_GETS: &[&str] = &["/devices/redetect", "/maintenance/backup"];

fn audited(method: &Method, path: &str) -> bool {
    match *method {
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE => true,
        Method::GET => AUDITED_GETS.iter().any(|route| {
            path.strip_suffix(route)
                .is_some_and(|p| p == "/api" || p == "/api/1")
        }),
        _ => false,
    }
}

/// Middleware: hands an [`AuditEntry`] for each audited call to the trail (never waits).
pub(crate) async fn record(State(audit): State<Audit>, req: Request, next: Next) -> Response {
    if !audited(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    let started = Instant::now();
    let time = now_ms();
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let address = client_ip(&req).to_string();
    let response = next.run(req).await;
    let prefix = if path.starts_with("/api/1/") {
        "/api/1"
    } else {
        "/api"
    };
    let extensions = response.extensions();
    audit.record(AuditEntry {
        id: 0,
        time,
        user: extensions
            .get::<CurrentUser>()
            .map(|u| u.0.username.clone()),
        address,
        method,
        route: extensions
            .get::<RoutePattern>()
            .map(|r| format!("{prefix}{}", r.0)),
        path,
        status: response.status().as_u16(),
        code: extensions
            .get::<ErrorCode>()
            .map(|c| c.as_str().to_string()),
        duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        count: 1,
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_the_state_changing_gets_are_audited() {
        assert!(audited(&Method::POST, "/api/1/users"));
        assert!(audited(&Method::DELETE, "/api/speakers/1"));
        assert!(audited(&Method::GET, "/api/1/devices/redetect"));
        assert!(audited(&Method::GET, "/api/maintenance/backup"));
        assert!(!audited(&Method::GET, "/api/1/users"));
        assert!(!audited(&Method::GET, "/api/1/x/devices/redetect"));
        assert!(!audited(&Method::HEAD, "/api/1/devices/redetect"));
    }
}
