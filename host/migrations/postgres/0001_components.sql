-- Keep in step with migrations/sqlite/0001_components.sql.
CREATE TABLE component_versions (
    tenant     TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    TEXT NOT NULL,
    wasm       BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, name, version)
);

CREATE TABLE components (
    tenant       TEXT NOT NULL,
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    fuel         BIGINT NOT NULL,
    memory_bytes BIGINT NOT NULL,
    timeout_ms   BIGINT NOT NULL,
    deployed_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant, name),
    FOREIGN KEY (tenant, name, version) REFERENCES component_versions (tenant, name, version)
);
