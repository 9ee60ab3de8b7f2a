-- Keep in step with the other backend's 0013.
-- The W3C traceparent of the span that started an execution (NULL when traces were not
-- exported then): every run of it, on any node and after any restart, continues that trace.
ALTER TABLE executions ADD COLUMN trace_parent TEXT;
