-- SQLite only: memberships move into a table clustered on their primary key (WITHOUT
-- ROWID). A rowid table keeps each row twice, in the table and in the primary key's index;
-- a district's million memberships were most of a first sync's writing and a quarter of
-- the file. Same columns and key: an older operator reads and writes it unchanged.
CREATE TABLE memberships_clustered (
    namespace TEXT NOT NULL,
    provider TEXT NOT NULL,
    class_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    role TEXT NOT NULL,
    school TEXT NOT NULL,
    PRIMARY KEY (namespace, provider, class_id, person_id)
) WITHOUT ROWID;

INSERT INTO memberships_clustered (namespace, provider, class_id, person_id, role, school)
SELECT namespace, provider, class_id, person_id, role, school FROM memberships;

DROP TABLE memberships;

ALTER TABLE memberships_clustered RENAME TO memberships;
