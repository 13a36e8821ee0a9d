-- Users with argon2id hashes and their CaptureCast roles (a JSON array of role names).
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    roles         TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
-- Logins are exact, but two names that differ only in case would confuse people.
CREATE UNIQUE INDEX users_username_nocase ON users (username COLLATE NOCASE);

-- Settings changed from their defaults; values are JSON.
CREATE TABLE settings (
    key        TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
