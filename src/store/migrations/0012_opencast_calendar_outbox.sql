-- Opencast capture-agent mode, the durable half: the last calendar Opencast sent (with its
-- ETag, exactly as received, and when it was last fetched in full), so a box that boots
-- with Opencast unreachable records from it; and the outbox of recording states, replayed
-- in order when Opencast answers again, so no state is lost to a network cut.
CREATE TABLE opencast_calendar (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    etag        TEXT,
    body        BLOB    NOT NULL,
    fetched_at  INTEGER NOT NULL,
    full_at     INTEGER NOT NULL
);
CREATE TABLE opencast_outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    uid        TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
