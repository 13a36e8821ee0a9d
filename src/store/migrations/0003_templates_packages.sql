-- Capture templates: the whole Template as JSON, the name unique ignoring case.
CREATE TABLE templates (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    template   TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX templates_name_nocase ON templates (name COLLATE NOCASE);

-- Media packages: the whole MediaPackage as JSON; state and creation time as columns for
-- listing and recovery. Each package directory also holds the same JSON as manifest.json.
CREATE TABLE media_packages (
    id         TEXT    PRIMARY KEY,
    state      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    package    TEXT    NOT NULL
);
CREATE INDEX media_packages_created ON media_packages (created_at DESC);
CREATE INDEX media_packages_state ON media_packages (state);
