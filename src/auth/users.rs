//! User management: validation, the last-Administrator rule, and the initial admin.
//!
//! Every change goes through one write transaction (checks and write together, so two
//! concurrent requests cannot both remove "the other" Administrator) and then drops the
//! authenticator's credential cache.

use std::path::Path;

use crate::model::{Role, User, UserInput};
use crate::store::{self, Store, StoreError};

use super::{Authenticator, password};

#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("no user with id {0}")]
    NotFound(i64),
    #[error("a user named {0:?} already exists")]
    DuplicateUsername(String),
    #[error("the unit must keep at least one Administrator")]
    LastAdmin,
    #[error("invalid username: {0}")]
    InvalidUsername(String),
    #[error("invalid password: {0}")]
    InvalidPassword(String),
    #[error("invalid roles: {0}")]
    InvalidRoles(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for UsersError {
    fn from(e: rusqlite::Error) -> Self {
        UsersError::Store(e.into())
    }
}

/// How the first Administrator got its password.
#[derive(Debug, PartialEq, Eq)]
pub enum InitialAdmin {
    /// Users already existed; nothing was created.
    Existing,
    /// Created with the configured `CASTD_ADMIN_PASSWORD`.
    FromConfig,
    /// Created with a random password, also written to `path`.
    Random {
        path: std::path::PathBuf,
        password: String,
    },
}

pub(crate) const INITIAL_ADMIN: &str = "admin";

/// Cheap, cloneable handle to user management.
#[derive(Clone)]
pub struct Users {
    store: Store,
    auth: Authenticator,
}

impl Users {
    pub fn new(store: Store, auth: Authenticator) -> Users {
        Users { store, auth }
    }

    /// Hashes a new password on the hashing threads (see `hashing`).
    async fn hash(&self, password: &str) -> Result<String, UsersError> {
        self.auth
            .hashing()
            .hash(password.to_string())
            .await
            .map_err(|e| UsersError::Store(StoreError::Task(e.to_string())))
    }

    pub async fn list(&self) -> Result<Vec<User>, UsersError> {
        Ok(self.store.read(store::users::list).await?)
    }

    pub async fn get(&self, id: i64) -> Result<User, UsersError> {
        self.store
            .read(move |c| store::users::get(c, id))
            .await?
            .map(|r| r.user)
            .ok_or(UsersError::NotFound(id))
    }

    pub async fn create(
        &self,
        username: &str,
        roles: &[Role],
        password: &str,
    ) -> Result<User, UsersError> {
        let username = check_username(username)?;
        let roles = check_roles(roles)?;
        password::check_policy(password).map_err(UsersError::InvalidPassword)?;
        let phc = self.hash(password).await?;
        let user = self
            .store
            .write(move |tx| {
                if store::users::username_taken(tx, &username, None)? {
                    return Err(UsersError::DuplicateUsername(username));
                }
                let id = store::users::insert(tx, &username, &phc, &roles)
                    .map_err(|e| conflict_or(e, &username))?;
                Ok(User {
                    id,
                    username,
                    roles,
                })
            })
            .await?;
        self.auth.invalidate();
        Ok(user)
    }

    /// Changes name and/or roles (absent fields stay) and optionally the password.
    pub async fn update(
        &self,
        id: i64,
        input: UserInput,
        password: Option<&str>,
    ) -> Result<User, UsersError> {
        let username = input.username.as_deref().map(check_username).transpose()?;
        let roles = input.roles.as_deref().map(check_roles).transpose()?;
        let phc = match password {
            Some(p) => {
                password::check_policy(p).map_err(UsersError::InvalidPassword)?;
                Some(self.hash(p).await?)
            }
            None => None,
        };
        let user = self
            .store
            .write(move |tx| {
                let current = store::users::get(tx, id)?
                    .ok_or(UsersError::NotFound(id))?
                    .user;
                let was_admin = current.roles.contains(&Role::Administrator);
                let username = username.unwrap_or(current.username);
                let roles = roles.unwrap_or(current.roles);
                if store::users::username_taken(tx, &username, Some(id))? {
                    return Err(UsersError::DuplicateUsername(username));
                }
                if was_admin
                    && !roles.contains(&Role::Administrator)
                    && store::users::count_admins(tx, Some(id))? == 0
                {
                    return Err(UsersError::LastAdmin);
                }
                store::users::update(tx, id, &username, &roles)
                    .map_err(|e| conflict_or(e, &username))?;
                if let Some(phc) = &phc {
                    store::users::set_password_hash(tx, id, phc)?;
                }
                Ok(User {
                    id,
                    username,
                    roles,
                })
            })
            .await?;
        self.auth.user_changed(id);
        Ok(user)
    }

    pub async fn delete(&self, id: i64) -> Result<(), UsersError> {
        self.store
            .write(move |tx| {
                let user = store::users::get(tx, id)?
                    .ok_or(UsersError::NotFound(id))?
                    .user;
                if user.roles.contains(&Role::Administrator)
                    && store::users::count_admins(tx, Some(id))? == 0
                {
                    return Err(UsersError::LastAdmin);
                }
                store::users::delete(tx, id)?;
                Ok(())
            })
            .await?;
        self.auth.user_changed(id);
        Ok(())
    }

    /// On first start (no users at all) creates `admin` with the configured password or a
    /// random one written to `password_file` (mode 0600). There is no default password.
    pub async fn ensure_initial_admin(
        &self,
        configured: Option<&str>,
        password_file: &Path,
    ) -> Result<InitialAdmin, UsersError> {
        if self.store.read(store::users::count).await? > 0 {
            return Ok(InitialAdmin::Existing);
        }
        let (password, outcome) = match configured {
            Some(p) => (p.to_string(), InitialAdmin::FromConfig),
            None => {
                let p = password::random();
                write_secret_file(password_file, &p).map_err(|e| {
                    UsersError::Store(StoreError::Task(format!(
                        "cannot write {}: {e}",
                        password_file.display()
                    )))
                })?;
                (
                    p.clone(),
                    InitialAdmin::Random {
                        path: password_file.to_path_buf(),
                        password: p,
                    },
                )
            }
        };
        self.create(INITIAL_ADMIN, &[Role::Administrator], &password)
            .await?;
        Ok(outcome)
    }
}

/// A UNIQUE violation is a name taken by a concurrent request; anything else is a store error.
fn conflict_or(e: rusqlite::Error, username: &str) -> UsersError {
    if store::is_unique_violation(&e) {
        UsersError::DuplicateUsername(username.to_string())
    } else {
        e.into()
    }
}

/// Letters, digits and `._@-`, 1 to 64 characters; no `:` since Basic auth splits on it.
fn check_username(name: &str) -> Result<String, UsersError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-');
    if name.is_empty() || name.len() > 64 {
        return Err(UsersError::InvalidUsername(
            "must be 1 to 64 characters".into(),
        ));
    }
    if !name.chars().all(ok_char) {
        return Err(UsersError::InvalidUsername(
            "may contain only letters, digits and . _ @ -".into(),
        ));
    }
    Ok(name.to_string())
}

fn check_roles(roles: &[Role]) -> Result<Vec<Role>, UsersError> {
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        return Err(UsersError::InvalidRoles(
            "a user needs at least one role".into(),
        ));
    }
    Ok(roles)
}

fn write_secret_file(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // `mode` only applies to a new file; a left-over file may have looser permissions.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    writeln!(file, "{secret}")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AuthConfig;

    async fn users(dir: &Path) -> Users {
        let store = Store::open(&dir.join("u.db")).unwrap();
        let auth = Authenticator::new(store.clone(), AuthConfig::default());
        Users::new(store, auth)
    }

    #[tokio::test]
    async fn the_last_administrator_cannot_go() {
        let dir = tempfile::tempdir().unwrap();
        let u = users(dir.path()).await;
        let admin = u
            .create("boss", &[Role::Administrator], "password1")
            .await
            .unwrap();
        assert!(matches!(
            u.delete(admin.id).await,
            Err(UsersError::LastAdmin)
        ));
        let demote = UserInput {
            username: None,
            roles: Some(vec![Role::Presenter]),
        };
        assert!(matches!(
            u.update(admin.id, demote.clone(), None).await,
            Err(UsersError::LastAdmin)
        ));
        let second = u
            .create("deputy", &[Role::Administrator], "password2")
            .await
            .unwrap();
        u.update(admin.id, demote, None).await.unwrap();
        assert!(matches!(
            u.delete(second.id).await,
            Err(UsersError::LastAdmin)
        ));
    }

    #[tokio::test]
    async fn names_are_unique_ignoring_case_and_validated() {
        let dir = tempfile::tempdir().unwrap();
        let u = users(dir.path()).await;
        u.create("Anna", &[Role::Scheduler], "password1")
            .await
            .unwrap();
        assert!(matches!(
            u.create("anna", &[Role::Scheduler], "password1").await,
            Err(UsersError::DuplicateUsername(_))
        ));
        assert!(matches!(
            u.create("a:b", &[Role::Scheduler], "password1").await,
            Err(UsersError::InvalidUsername(_))
        ));
        assert!(matches!(
            u.create("bob", &[], "password1").await,
            Err(UsersError::InvalidRoles(_))
        ));
        assert!(matches!(
            u.create("bob", &[Role::Scheduler], "short").await,
            Err(UsersError::InvalidPassword(_))
        ));
        assert_eq!(u.list().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn the_initial_admin_gets_a_random_password_in_a_private_file_once() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let u = users(dir.path()).await;
        let file = dir.path().join("initial-admin-password");
        let outcome = u.ensure_initial_admin(None, &file).await.unwrap();
        let InitialAdmin::Random {
            path,
            password: generated,
        } = outcome
        else {
            panic!("expected a random password, got {outcome:?}");
        };
        assert_eq!(path, file);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let password = std::fs::read_to_string(&file).unwrap();
        assert_eq!(password.trim(), generated);
        assert_eq!(
            u.ensure_initial_admin(None, &file).await.unwrap(),
            InitialAdmin::Existing
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            password,
            "written once"
        );
    }
}
