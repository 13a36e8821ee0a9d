//! The `users` group.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::auth::CurrentUser;
use crate::api::error::ApiError;
use crate::api::params::{Form, PathParam};
use crate::daemon::Daemon;
use crate::model::{User, UserInput};

/// All users of the unit
#[utoipa::path(get, path = "/users", tag = "users", operation_id = "getUsers",
    responses((status = 200, body = Vec<User>)))]
pub(crate) async fn get_users(State(daemon): State<Daemon>) -> Result<Json<Vec<User>>, ApiError> {
    Ok(Json(daemon.users().list().await?))
}

/// One user
#[utoipa::path(get, path = "/users/{id}", tag = "users", operation_id = "getUser",
    params(("id" = i64, Path)),
    responses((status = 200, body = User)))]
pub(crate) async fn get_user(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<i64>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(daemon.users().get(id).await?))
}

/// The calling user
#[utoipa::path(get, path = "/users/current", tag = "users", operation_id = "currentUser",
    responses((status = 200, body = User)))]
pub(crate) async fn current_user(CurrentUser(user): CurrentUser) -> Json<User> {
    Json(user)
}

/// Parameters of createUser.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CreateUserForm {
    /// `username` and `roles` (both required).
    pub user: UserInput,
    pub password: String,
}

/// Create a user
#[utoipa::path(post, path = "/users", tag = "users", operation_id = "createUser",
    request_body(content = CreateUserForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = User)))]
pub(crate) async fn create_user(
    State(daemon): State<Daemon>,
    Form(form): Form<CreateUserForm>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let username = form.user.username.unwrap_or_default();
    let roles = form.user.roles.unwrap_or_default();
    let user = daemon
        .users()
        .create(&username, &roles, &form.password)
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Parameters of updateUser.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct UpdateUserForm {
    /// Fields to change; absent fields keep their values.
    pub user: UserInput,
    /// A new password, if it changes.
    pub password: Option<String>,
}

/// Update a user
///
/// Changes name, roles and/or password. The unit always keeps at least one Administrator.
#[utoipa::path(post, path = "/users/{id}", tag = "users", operation_id = "updateUser",
    params(("id" = i64, Path)),
    request_body(content = UpdateUserForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = User)))]
pub(crate) async fn update_user(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<i64>,
    Form(form): Form<UpdateUserForm>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(
        daemon
            .users()
            .update(id, form.user, form.password.as_deref())
            .await?,
    ))
}

/// Delete a user
#[utoipa::path(delete, path = "/users/{id}", tag = "users", operation_id = "deleteUser",
    params(("id" = i64, Path)),
    responses((status = 204)))]
pub(crate) async fn delete_user(
    State(daemon): State<Daemon>,
    PathParam(id): PathParam<i64>,
) -> Result<StatusCode, ApiError> {
    daemon.users().delete(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
