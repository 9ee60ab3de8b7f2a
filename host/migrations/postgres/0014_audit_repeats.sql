-- Keep in step with the other backend's 0014.
-- How many requests one audit entry stands for: 1, but for the refusals of callers
-- without a key (401), counted per action and minute in one entry each (a flood of
-- strangers' requests adds two rows a minute per endpoint, not one per request).
ALTER TABLE audit_log ADD COLUMN repeats BIGINT NOT NULL DEFAULT 1;
