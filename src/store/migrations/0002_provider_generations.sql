-- A counter per provider that every write of the provider's rows raises in the same
-- transaction: a sync reads the provider's rows ahead, while it reads the roster, and uses
-- them only when the counter it reads under the namespace's lock is still the one it read
-- with them. A provider never seen has none (generation 0).
CREATE TABLE provider_generations (
    namespace TEXT NOT NULL,
    provider TEXT NOT NULL,
    generation BIGINT NOT NULL,
    PRIMARY KEY (namespace, provider)
);
