-- No query reads people by their platform user alone: the one that names identity_id (a
-- person's lookup by email) also matches lower(email), which no index serves, so both
-- backends read the namespace's people for it. The index only cost every insert of a
-- person a lookup in random order: a quarter of a first sync's writing of people.
DROP INDEX IF EXISTS people_by_identity;
