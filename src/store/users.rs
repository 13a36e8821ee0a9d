//! The `users` table: accounts, their argon2id hashes and roles.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;
use crate::model::{Role, User};
use crate::sys::time::now_ms;

/// A user row including the password hash, for authentication only.
#[derive(Debug, Clone)]
pub(crate) struct UserRecord {
    pub user: User,
    pub password_hash: String,
}

const COLUMNS: &str = "id, username, password_hash, roles";

fn from_row(row: &Row<'_>) -> rusqlite::Result<(i64, String, String, String)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn decode(
    (id, username, password_hash, roles): (i64, String, String, String),
) -> Result<UserRecord, StoreError> {
    let roles: Vec<Role> = serde_json::from_str(&roles).map_err(|e| StoreError::Corrupt {
        table: "users",
        message: format!("roles of user {id}: {e}"),
    })?;
    Ok(UserRecord {
        user: User {
            id,
            username,
            roles,
        },
        password_hash,
    })
}

#[expect(clippy::expect_used, reason = "invariant: roles serialise")]
fn encode_roles(roles: &[Role]) -> String {
    serde_json::to_string(roles).expect("roles serialise")
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<User>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM users ORDER BY id"))?;
    let rows = stmt.query_map([], from_row)?;
    rows.map(|r| Ok(decode(r?)?.user)).collect()
}

pub(crate) fn count(conn: &Connection) -> Result<i64, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT count(*) FROM users")?;
    Ok(stmt.query_row([], |r| r.get(0))?)
}

pub(crate) fn get(conn: &Connection, id: i64) -> Result<Option<UserRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE id = ?1"))?;
    stmt.query_row(params![id], from_row)
        .optional()?
        .map(decode)
        .transpose()
}

/// Looks a user up by the exact name used to log in.
pub(crate) fn by_username(
    conn: &Connection,
    username: &str,
) -> Result<Option<UserRecord>, StoreError> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE username = ?1"))?;
    stmt.query_row(params![username], from_row)
        .optional()?
        .map(decode)
        .transpose()
}

/// Whether another user already has this name, ignoring case.
pub(crate) fn username_taken(
    conn: &Connection,
    username: &str,
    except_id: Option<i64>,
) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT count(*) FROM users WHERE username = ?1 COLLATE NOCASE AND id IS NOT ?2",
    )?;
    let n: i64 = stmt.query_row(params![username, except_id], |r| r.get(0))?;
    Ok(n > 0)
}

/// Number of users holding the Administrator role, leaving out `except_id`.
pub(crate) fn count_admins(conn: &Connection, except_id: Option<i64>) -> Result<i64, StoreError> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE id IS NOT ?1"))?;
    let rows = stmt.query_map(params![except_id], from_row)?;
    let mut admins = 0;
    for row in rows {
        if decode(row?)?.user.roles.contains(&Role::Administrator) {
            admins += 1;
        }
    }
    Ok(admins)
}

/// Inserts a user; the caller has checked the name is free. Returns the new id.
pub(crate) fn insert(
    conn: &Connection,
    username: &str,
    password_hash: &str,
    roles: &[Role],
) -> Result<i64, rusqlite::Error> {
    let now = now_ms();
    let mut stmt = conn.prepare_cached(
        "INSERT INTO users (username, password_hash, roles, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
    )?;
    stmt.execute(params![username, password_hash, encode_roles(roles), now])?;
    Ok(conn.last_insert_rowid())
}

pub(crate) fn update(
    conn: &Connection,
    id: i64,
    username: &str,
    roles: &[Role],
) -> Result<(), rusqlite::Error> {
    let mut stmt = conn.prepare_cached(
        "UPDATE users SET username = ?2, roles = ?3, updated_at = ?4 WHERE id = ?1",
    )?;
    stmt.execute(params![id, username, encode_roles(roles), now_ms()])?;
    Ok(())
}

pub(crate) fn set_password_hash(
    conn: &Connection,
    id: i64,
    password_hash: &str,
) -> Result<(), StoreError> {
    let mut stmt =
        conn.prepare_cached("UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1")?;
    stmt.execute(params![id, password_hash, now_ms()])?;
    Ok(())
}

pub(crate) fn delete(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached("DELETE FROM users WHERE id = ?1")?;
    Ok(stmt.execute(params![id])? > 0)
}
