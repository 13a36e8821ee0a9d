-- Settings of each plugin (device capture, publishers) as one JSON object, secrets included:
-- the database is readable by castd only.
CREATE TABLE plugin_settings (
    plugin_id  TEXT    PRIMARY KEY,
    settings   TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
