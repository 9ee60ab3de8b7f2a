-- Keep in step with the other backend's 0007.
-- Unfinished executions only: the scheduler's claim (every 100 ms per node) and the
-- running-executions quota count read these few rows, however many finished executions
-- the table keeps.
CREATE INDEX executions_unfinished ON executions (status, wake_at)
    WHERE status IN ('pending', 'running', 'sleeping', 'waiting');
CREATE INDEX executions_unfinished_by_tenant ON executions (tenant, status)
    WHERE status IN ('pending', 'running', 'sleeping', 'waiting');
