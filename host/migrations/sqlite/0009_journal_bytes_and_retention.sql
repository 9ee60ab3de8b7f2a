-- Keep in step with the other backend's 0009.
-- Bytes of journal each execution holds (its entries' requests and outcomes), kept by a
-- trigger on every append, so that the tenant's journal_bytes quota sums its few
-- unfinished executions rather than their journals.
ALTER TABLE executions ADD COLUMN journal_bytes BIGINT NOT NULL DEFAULT 0;

UPDATE executions SET journal_bytes = (
    SELECT COALESCE(SUM(length(CAST(request AS BLOB)) + length(CAST(outcome AS BLOB))), 0)
    FROM journal WHERE journal.execution_id = executions.id
)
WHERE status IN ('pending', 'running', 'sleeping', 'waiting');

CREATE TRIGGER journal_bytes_counted AFTER INSERT ON journal
BEGIN
    UPDATE executions
    SET journal_bytes = journal_bytes + length(CAST(NEW.request AS BLOB)) + length(CAST(NEW.outcome AS BLOB))
    WHERE id = NEW.execution_id;
END;

-- Retention deletes finished executions by the time they finished, oldest first.
CREATE INDEX executions_finished ON executions (updated_at)
    WHERE status IN ('completed', 'failed', 'cancelled');
