//! Users and the five CaptureCast roles.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A CaptureCast role; the JSON strings are fixed by the CaptureCast API.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum Role {
    Administrator,
    Scheduler,
    #[serde(rename = "Content manager")]
    ContentManager,
    #[serde(rename = "Status viewer")]
    StatusViewer,
    Presenter,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Administrator,
        Role::Scheduler,
        Role::ContentManager,
        Role::StatusViewer,
        Role::Presenter,
    ];

    /// The exact JSON string of the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "Administrator",
            Role::Scheduler => "Scheduler",
            Role::ContentManager => "Content manager",
            Role::StatusViewer => "Status viewer",
            Role::Presenter => "Presenter",
        }
    }
}

/// A user of the unit as the API shows it; the password hash never leaves the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub roles: Vec<Role>,
}

/// The `user` parameter of createUser/updateUser; on update, absent fields stay unchanged.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct UserInput {
    pub username: Option<String>,
    pub roles: Option<Vec<Role>>,
}
