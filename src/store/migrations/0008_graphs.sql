-- Graphs saved from the graph builder (templates keep their own graphs).
CREATE TABLE graphs (
    id         TEXT    PRIMARY KEY,
    graph      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
