-- A digest of each class's memberships (see src/engine/memberships.rs, `ClassDigest`),
-- written in the transaction that writes the rows. A nightly sync compares the wanted
-- classes' digests with these and reads back only the memberships of the classes that
-- differ, not every membership of the provider.
CREATE TABLE membership_digests (
    namespace TEXT NOT NULL,
    provider TEXT NOT NULL,
    class_id TEXT NOT NULL,
    -- 128 bits, as 32 hexadecimal digits.
    digest TEXT NOT NULL,
    PRIMARY KEY (namespace, provider, class_id)
);

-- The provider's generation at which its digests were last made true to its memberships.
-- A write that does not keep them (an operator from before this migration raises the
-- generation and leaves this as it was) makes them unusable until a sync writes them all
-- again. NULL: never made.
ALTER TABLE provider_generations ADD COLUMN digests_generation BIGINT;
