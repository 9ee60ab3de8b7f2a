-- Keep in step with migrations/postgres/0003_signals.sql.
-- Signals sent to executions. A signal is consumed by the journal entry (`consumed_seq`)
-- of the wait that received it; claiming it again for the same entry gives it again, so
-- a crash between claiming and journaling loses nothing.
CREATE TABLE signals (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    consumed_seq BIGINT
);

CREATE INDEX signals_by_execution ON signals (execution_id, name, consumed_seq);
