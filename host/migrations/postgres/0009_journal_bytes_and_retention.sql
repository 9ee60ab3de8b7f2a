-- Keep in step with the other backend's 0009.
-- Bytes of journal each execution holds (its entries' requests and outcomes), kept by a
-- trigger on every append (in the append's own statement: no round trip more), so that
-- the tenant's journal_bytes quota sums its few unfinished executions rather than their
-- journals.
ALTER TABLE executions ADD COLUMN journal_bytes BIGINT NOT NULL DEFAULT 0;

UPDATE executions SET journal_bytes = (
    SELECT COALESCE(SUM(octet_length(request) + octet_length(outcome)), 0)
    FROM journal WHERE journal.execution_id = executions.id
)
WHERE status IN ('pending', 'running', 'sleeping', 'waiting');

CREATE FUNCTION tsdev_count_journal_bytes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE executions
    SET journal_bytes = journal_bytes + octet_length(NEW.request) + octet_length(NEW.outcome)
    WHERE id = NEW.execution_id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER journal_bytes_counted AFTER INSERT ON journal
    FOR EACH ROW EXECUTE FUNCTION tsdev_count_journal_bytes();

-- Retention deletes finished executions by the time they finished, oldest first.
CREATE INDEX executions_finished ON executions (updated_at)
    WHERE status IN ('completed', 'failed', 'cancelled');
