-- The platform users were looked up by exact email only by an import, one lookup per
-- imported user; an import now reads the namespace's emails once. Every other read of
-- them is by id, or of the whole namespace (sorted by the operator itself), or without
-- regard to case, which this index never served. It cost every new platform user an
-- insert in random order: 0.26 of the 0.56 s a first sync of 104,000 users spent on them
-- in PostgreSQL.
DROP INDEX IF EXISTS identities_by_email;
