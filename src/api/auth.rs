//! The permission gate in front of every route, and the extractor for the calling user.
//!
//! Each route is registered with a [`Guard`] in `routes.rs`; this middleware enforces it.
//! Which roles hold which permission is decided in `auth::permission`, nowhere else.

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::error::{ApiError, ErrorCode};
use crate::auth::{AuthError, Permission};
use crate::daemon::Daemon;
use crate::model::User;

/// What a route requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guard {
    /// The permission of API.md.
    Require(Permission),
    /// `view`, or nothing at all while the `publicStatus` setting is on.
    StatusView,
}

impl Guard {
    pub(crate) fn permission(self) -> Permission {
        match self {
            Guard::Require(p) => p,
            Guard::StatusView => Permission::View,
        }
    }
}

/// The authenticated caller, available to handlers behind a guard that needs credentials.
#[derive(Debug, Clone)]
pub(crate) struct CurrentUser(pub User);

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<CurrentUser>()
            .cloned()
            .ok_or_else(|| ApiError::new(ErrorCode::AuthRequired, "credentials required"))
    }
}

/// When the caller's credentials were checked: the authenticator's generation of the user
/// table, for responses that stay open and must end when the user changes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckedAt(pub u64);

/// The client's address as the socket saw it.
pub(crate) fn client_ip(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// Middleware: authenticates the caller and checks the route's permission.
pub(crate) async fn require(
    State((daemon, guard)): State<(Daemon, Guard)>,
    mut req: Request,
    next: Next,
) -> Response {
    let permission = guard.permission();
    if permission == Permission::None
        || (guard == Guard::StatusView && daemon.settings().public_status())
    {
        return next.run(req).await;
    }
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("invalid"));
    // Read before checking: a change during the check must count as after it.
    let checked_at = CheckedAt(daemon.auth().generation());
    let user = match daemon.auth().authenticate(header, client_ip(&req)).await {
        Ok(user) => user,
        Err(e) => {
            match e {
                AuthError::Invalid => daemon.metrics().auth_failure("invalid_credentials"),
                AuthError::Throttled { .. } => daemon.metrics().auth_failure("throttled"),
                AuthError::Busy { .. } => daemon.metrics().auth_failure("busy"),
                AuthError::Missing | AuthError::Store(_) => {}
            }
            return ApiError::from(e).into_response();
        }
    };
    if !permission.granted_to(&user.roles) {
        let mut refused = ApiError::new(
            ErrorCode::AuthForbidden,
            format!(
                "{} may not do this; it needs the '{}' permission",
                user.username,
                permission.as_str()
            ),
        )
        .with("permission", permission.as_str())
        .into_response();
        // The answer names the caller for the audit trail.
        refused.extensions_mut().insert(CurrentUser(user));
        return refused;
    }
    req.extensions_mut().insert(CurrentUser(user.clone()));
    req.extensions_mut().insert(checked_at);
    let mut response = next.run(req).await;
    response.extensions_mut().insert(CurrentUser(user));
    response
}
