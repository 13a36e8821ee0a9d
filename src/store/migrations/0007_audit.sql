-- Who did what when: one row per state-changing API call. Rows are only appended and the
-- oldest pruned, so the id orders them by time.
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    time        INTEGER NOT NULL,
    user        TEXT,
    address     TEXT    NOT NULL,
    method      TEXT    NOT NULL,
    route       TEXT,
    path        TEXT    NOT NULL,
    status      INTEGER NOT NULL,
    code        TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX audit_time ON audit (time);
CREATE INDEX audit_user ON audit (user, id);
