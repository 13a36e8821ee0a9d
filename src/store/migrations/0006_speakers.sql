-- Speakers that capture requests, events and media packages refer to. Names are unique
-- ignoring case so that a reference by name is unambiguous; image and links are the
-- validated JSON of the Asset and Link objects.
CREATE TABLE speakers (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    email       TEXT,
    biography   TEXT,
    credentials TEXT,
    image       TEXT,
    links       TEXT    NOT NULL DEFAULT '[]',
    updated_at  INTEGER NOT NULL
);
