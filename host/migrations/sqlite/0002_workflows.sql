-- Keep in step with migrations/postgres/0002_workflows.sql.
-- Durable workflow executions, their journals, and the leases hosts claim them with.
CREATE TABLE executions (
    id                TEXT PRIMARY KEY,
    tenant            TEXT NOT NULL,
    workflow          TEXT NOT NULL,
    component         TEXT NOT NULL,
    component_version TEXT NOT NULL,
    args              TEXT NOT NULL,
    idempotency_key   TEXT,
    status            TEXT NOT NULL,
    result            TEXT,
    error             TEXT,
    wake_at           BIGINT,
    lease_owner       TEXT,
    lease_expires_at  BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

-- NULL keys are distinct on both backends, so only keyed starts are de-duplicated.
CREATE UNIQUE INDEX executions_idempotency ON executions (tenant, workflow, idempotency_key);
CREATE INDEX executions_due ON executions (status, wake_at);
CREATE INDEX executions_by_workflow ON executions (tenant, workflow, created_at);

CREATE TABLE journal (
    execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    seq          BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    name         TEXT NOT NULL,
    request      TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    attempts     BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    finished_at  BIGINT NOT NULL,
    PRIMARY KEY (execution_id, seq)
);
