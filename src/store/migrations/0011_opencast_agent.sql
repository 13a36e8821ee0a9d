-- Opencast capture-agent mode: the Administrator's configuration (one row, JSON with the
-- password kept as given: the store is the unit's secret store, as for publishing), and the
-- service endpoints last discovered, so discovery never stands between castd and a
-- recording.
CREATE TABLE opencast_agent (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    config     TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE opencast_endpoints (
    service       TEXT PRIMARY KEY,
    url           TEXT NOT NULL,
    discovered_at INTEGER NOT NULL
);
