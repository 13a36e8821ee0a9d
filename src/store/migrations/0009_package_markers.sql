-- Markers in rows of their own: adding one appends a row instead of rewriting the whole
-- package, whose JSON keeps an empty list; reads put the markers back in.
CREATE TABLE package_markers (
    package_id  TEXT    NOT NULL REFERENCES media_packages (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    time        INTEGER NOT NULL,
    title       TEXT    NOT NULL,
    description TEXT,
    PRIMARY KEY (package_id, seq)
) WITHOUT ROWID;
INSERT INTO package_markers (package_id, seq, time, title, description)
    SELECT p.id, m.key, json_extract(m.value, '$.time'), json_extract(m.value, '$.title'),
           json_extract(m.value, '$.description')
    FROM media_packages AS p, json_each(p.package, '$.markers') AS m;
UPDATE media_packages SET package = json_set(package, '$.markers', json('[]'))
    WHERE json_array_length(package, '$.markers') > 0;
