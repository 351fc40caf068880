-- The roster store. One schema for SQLite and PostgreSQL: portable types only, ids made by
-- the application, every row keyed by namespace (the tenant) and, for provider data, by
-- provider (the ClassLinkSync's name).

-- The platform's users, shared with the platform's own directory sync and admin tools.
CREATE TABLE identities (
    namespace TEXT NOT NULL,
    id TEXT NOT NULL,
    email TEXT,
    given_name TEXT,
    family_name TEXT,
    role TEXT,
    source TEXT NOT NULL,
    attributes_from TEXT,
    attributes_priority BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (namespace, id)
);
CREATE INDEX identities_by_email ON identities (namespace, email);

-- Schools of each provider.
CREATE TABLE schools (
    namespace TEXT NOT NULL,
    provider TEXT NOT NULL,
    sourced_id TEXT NOT NULL,
    name TEXT NOT NULL,
    identifier TEXT,
    PRIMARY KEY (namespace, provider, sourced_id)
);

-- Students, teachers and staff of each provider, and the platform user each is linked to.
CREATE TABLE people (
    namespace TEXT NOT NULL,
    provider TEXT NOT NULL,
    sourced_id TEXT NOT NULL,
    identity_id TEXT,
    role TEXT NOT NULL,
    email TEXT,
    username TEXT,
    given_name TEXT,
    family_name TEXT,
    identifier TEXT,
    grades TEXT NOT NULL,
    schools TEXT NOT NULL,
    PRIMARY KEY (namespace, provider, sourced_id)
);
CREATE INDEX people_by_identity ON people (namespace, identity_id);

-- Classes of each provider.
CREATE TABLE classes (
    namespace TEXT NOT NULL,
    provider TEXT NOT NULL,
    sourced_id TEXT NOT NULL,
    school TEXT NOT NULL,
    title TEXT,
    class_code TEXT,
    class_type TEXT,
    course TEXT,
    terms TEXT NOT NULL,
    PRIMARY KEY (namespace, provider, sourced_id)
);

-- Who is in which class, with which role.
CREATE TABLE memberships (
    namespace TEXT NOT NULL,
    provider TEXT NOT NULL,
    class_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    role TEXT NOT NULL,
    school TEXT NOT NULL,
    PRIMARY KEY (namespace, provider, class_id, person_id)
);

-- Guardians with their contact details.
CREATE TABLE guardians (
    namespace TEXT NOT NULL,
    provider TEXT NOT NULL,
    sourced_id TEXT NOT NULL,
    relationship TEXT NOT NULL,
    given_name TEXT,
    family_name TEXT,
    email TEXT,
    phone TEXT,
    sms TEXT,
    schools TEXT NOT NULL,
    PRIMARY KEY (namespace, provider, sourced_id)
);

-- Which guardian is related to which student, and how.
CREATE TABLE guardian_links (
    namespace TEXT NOT NULL,
    provider TEXT NOT NULL,
    guardian_id TEXT NOT NULL,
    student_id TEXT NOT NULL,
    relationship TEXT NOT NULL,
    schools TEXT NOT NULL,
    PRIMARY KEY (namespace, provider, guardian_id, student_id)
);

-- One row per sync: its report (no personal data) and how many rows it wrote.
CREATE TABLE sync_runs (
    run_id TEXT NOT NULL PRIMARY KEY,
    namespace TEXT NOT NULL,
    provider TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    completed_at BIGINT NOT NULL,
    result TEXT NOT NULL,
    error_code TEXT,
    message TEXT NOT NULL,
    counts TEXT NOT NULL,
    problems TEXT NOT NULL,
    rows_written BIGINT NOT NULL
);
CREATE INDEX sync_runs_by_provider ON sync_runs (namespace, provider, started_at);

-- Log lines of each sync (phases, totals, codes; never personal data).
CREATE TABLE sync_run_log (
    run_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- Serialises the syncs of one namespace: a sync's transaction holds this row's lock.
CREATE TABLE namespace_locks (
    namespace TEXT NOT NULL PRIMARY KEY,
    holder TEXT NOT NULL,
    locked_at BIGINT NOT NULL
);
