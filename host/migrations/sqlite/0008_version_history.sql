-- Keep in step with the other backend's 0008.
-- Versions are a history now (rollback): `created_at` is when the version was last made
-- current (a deploy of the same bytes or a rollback moves it), `deployed_by` the key id
-- that did it (NULL: no key, a dev host or the example `serve` deploys at start).
ALTER TABLE component_versions ADD COLUMN deployed_by TEXT;
CREATE INDEX component_versions_by_time ON component_versions (tenant, name, created_at);
