-- The publish queue: one job per media package and publisher (the idempotency key), its
-- effective configuration (secrets included, as in plugin_settings), progress, retry state
-- and the publisher's resume checkpoint.
CREATE TABLE publish_jobs (
    id              TEXT    PRIMARY KEY,
    package_id      TEXT    NOT NULL,
    publisher_id    TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    config          TEXT    NOT NULL,
    bytes_done      INTEGER NOT NULL DEFAULT 0,
    bytes_total     INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    last_code       TEXT,
    url             TEXT,
    remote_id       TEXT,
    checkpoint      TEXT,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    UNIQUE (package_id, publisher_id)
);
CREATE INDEX publish_jobs_due ON publish_jobs (state, next_attempt_at);

-- The last connection test per publisher.
CREATE TABLE publish_tests (
    publisher_id TEXT    PRIMARY KEY,
    result       TEXT    NOT NULL,
    tested_at    INTEGER NOT NULL
);

-- Packages whose automatic publishing has been decided (enqueued or not wanted), so a
-- restart neither enqueues twice nor forgets a package that finished while nobody listened.
-- Packages from before the queue existed count as decided.
CREATE TABLE publish_decided (
    package_id TEXT    PRIMARY KEY,
    decided_at INTEGER NOT NULL
);
INSERT INTO publish_decided (package_id, decided_at) SELECT id, created_at FROM media_packages;
