-- Keep in step with the other backend's 0006.
-- Fenced claims: every claim of an execution takes the next lease epoch, and a run writes
-- (journal entries, status changes) only while the epoch it claimed is still the row's.
ALTER TABLE executions ADD COLUMN lease_epoch BIGINT NOT NULL DEFAULT 0;

-- Nodes sharing the database: each beats while it runs (GET /v1/nodes); a draining node
-- claims nothing new.
CREATE TABLE nodes (
    id         TEXT PRIMARY KEY,
    address    TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    beat_at    BIGINT NOT NULL,
    draining   BIGINT NOT NULL DEFAULT 0,
    stopped_at BIGINT
);
