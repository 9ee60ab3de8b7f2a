-- Keep in step with the other backend's 0004.
-- Each journal row says which journal format wrote it (see host/src/store/journal.rs);
-- rows from before this migration are format 1.
ALTER TABLE journal ADD COLUMN format BIGINT NOT NULL DEFAULT 1;

-- A version keeps the limits it was deployed with, so an execution pinned to an old version
-- runs under that version's fuel, memory and timeout, not the defaults.
ALTER TABLE component_versions ADD COLUMN fuel BIGINT;
ALTER TABLE component_versions ADD COLUMN memory_bytes BIGINT;
ALTER TABLE component_versions ADD COLUMN timeout_ms BIGINT;
UPDATE component_versions SET
    fuel = (SELECT c.fuel FROM components c
            WHERE c.tenant = component_versions.tenant AND c.name = component_versions.name
              AND c.version = component_versions.version),
    memory_bytes = (SELECT c.memory_bytes FROM components c
            WHERE c.tenant = component_versions.tenant AND c.name = component_versions.name
              AND c.version = component_versions.version),
    timeout_ms = (SELECT c.timeout_ms FROM components c
            WHERE c.tenant = component_versions.tenant AND c.name = component_versions.name
              AND c.version = component_versions.version);

-- One row that /ready rewrites (at most once a second) to know that writes commit.
CREATE TABLE write_checks (
    id         BIGINT PRIMARY KEY,
    checked_at BIGINT NOT NULL
);
INSERT INTO write_checks (id, checked_at) VALUES (1, 0);
