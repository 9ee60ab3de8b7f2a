-- Keep in step with the other backend's 0005.
-- Tenants own everything stored (every table already has a tenant column); `default`
-- always exists.
-- `quotas`: JSON (host/src/quota.rs); NULL for the defaults.
CREATE TABLE tenants (
    name       TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    quotas     TEXT
);
INSERT INTO tenants (name, created_at) VALUES ('default', 0);

-- API keys: only the SHA-256 of each key is kept. A NULL tenant is a host admin key.
-- Scopes are space-separated names (see host/src/access.rs).
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    tenant     TEXT,
    name       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    scopes     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant, created_at);

-- Append-only: no API deletes entries.
CREATE TABLE audit_log (
    seq        BIGSERIAL PRIMARY KEY,
    at         BIGINT NOT NULL,
    tenant     TEXT NOT NULL,
    key_id     TEXT,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    request_id TEXT NOT NULL,
    status     BIGINT NOT NULL,
    outcome    TEXT NOT NULL
);
CREATE INDEX audit_log_by_tenant ON audit_log (tenant, seq);

-- Unfinished executions per tenant, counted at each start (the running-executions quota).
CREATE INDEX executions_by_status ON executions (tenant, status);
