-- Scheduled captures. Times and the outcome are columns for the timer's queries; the whole
-- Event (or EventGroup) is JSON.
CREATE TABLE event_groups (
    id         TEXT    PRIMARY KEY,
    grp        TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE events (
    id         TEXT    PRIMARY KEY,
    group_id   TEXT    REFERENCES event_groups (id) ON DELETE CASCADE,
    start_time INTEGER NOT NULL,
    stop_time  INTEGER NOT NULL,
    outcome    TEXT    NOT NULL,
    template   TEXT    NOT NULL,
    event      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX events_start ON events (start_time);
CREATE INDEX events_group ON events (group_id);
CREATE INDEX events_outcome ON events (outcome, start_time);
