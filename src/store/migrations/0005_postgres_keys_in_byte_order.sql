-- PostgreSQL only: every column of a key or an index compares in byte order (COLLATE "C"),
-- as the operator sorts and compares them. Under the database's own collation (C.UTF-8,
-- en_US.UTF-8, ...) each comparison of an index insert or lookup goes through the locale's
-- strcoll, and rows read in key order come back in an order the operator has to sort
-- again. Equality is the same under both: no key changes meaning. The indexes are rebuilt
-- once; the tables' rows are not rewritten.
ALTER TABLE identities
    ALTER COLUMN namespace TYPE TEXT COLLATE "C",
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN email TYPE TEXT COLLATE "C";
ALTER TABLE schools
    ALTER COLUMN namespace TYPE TEXT COLLATE "C",
    ALTER COLUMN provider TYPE TEXT COLLATE "C",
    ALTER COLUMN sourced_id TYPE TEXT COLLATE "C";
ALTER TABLE people
    ALTER COLUMN namespace TYPE TEXT COLLATE "C",
    ALTER COLUMN provider TYPE TEXT COLLATE "C",
    ALTER COLUMN sourced_id TYPE TEXT COLLATE "C",
    ALTER COLUMN identity_id TYPE TEXT COLLATE "C";
ALTER TABLE classes
    ALTER COLUMN namespace TYPE TEXT COLLATE "C",
    ALTER COLUMN provider TYPE TEXT COLLATE "C",
    ALTER COLUMN sourced_id TYPE TEXT COLLATE "C";
ALTER TABLE memberships
    ALTER COLUMN namespace TYPE TEXT COLLATE "C",
    ALTER COLUMN provider TYPE TEXT COLLATE "C",
    ALTER COLUMN class_id TYPE TEXT COLLATE "C",
    ALTER COLUMN person_id TYPE TEXT COLLATE "C";
ALTER TABLE guardians
    ALTER COLUMN namespace TYPE TEXT COLLATE "C",
    ALTER COLUMN provider TYPE TEXT COLLATE "C",
    ALTER COLUMN sourced_id TYPE TEXT COLLATE "C";
ALTER TABLE guardian_links
    ALTER COLUMN namespace TYPE TEXT COLLATE "C",
    ALTER COLUMN provider TYPE TEXT COLLATE "C",
    ALTER COLUMN guardian_id TYPE TEXT COLLATE "C",
    ALTER COLUMN student_id TYPE TEXT COLLATE "C";
ALTER TABLE membership_digests
    ALTER COLUMN namespace TYPE TEXT COLLATE "C",
    ALTER COLUMN provider TYPE TEXT COLLATE "C",
    ALTER COLUMN class_id TYPE TEXT COLLATE "C";
ALTER TABLE provider_generations
    ALTER COLUMN namespace TYPE TEXT COLLATE "C",
    ALTER COLUMN provider TYPE TEXT COLLATE "C";
ALTER TABLE namespace_locks
    ALTER COLUMN namespace TYPE TEXT COLLATE "C";
ALTER TABLE sync_runs
    ALTER COLUMN run_id TYPE TEXT COLLATE "C",
    ALTER COLUMN namespace TYPE TEXT COLLATE "C",
    ALTER COLUMN provider TYPE TEXT COLLATE "C";
ALTER TABLE sync_run_log
    ALTER COLUMN run_id TYPE TEXT COLLATE "C";
