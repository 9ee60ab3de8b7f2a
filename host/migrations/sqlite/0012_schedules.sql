-- Keep in step with the other backend's 0012.
-- Cron schedules (crate::schedule), per tenant. `component` names the component whose
-- manifest declared the schedule (its [[schedule]]), NULL for one made over the API.
-- `next_fire_at` is the tick to fire next (ms, database clock); a node claims a tick by
-- moving it on with a compare-and-set, so each tick is taken once across nodes.
CREATE TABLE schedules (
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    component TEXT,
    cron TEXT NOT NULL,
    timezone TEXT NOT NULL,
    procedure TEXT NOT NULL,
    args TEXT NOT NULL,
    missed TEXT NOT NULL,
    next_fire_at BIGINT NOT NULL,
    last_fired_at BIGINT,
    last_outcome TEXT,
    fired BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, name)
);
CREATE INDEX schedules_due ON schedules (next_fire_at);
