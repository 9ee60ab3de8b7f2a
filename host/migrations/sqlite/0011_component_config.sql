-- Keep in step with the other backend's 0011.
-- Config values of components (wasi:config), per tenant and component name: they outlive
-- redeploys and go with the component. A secret's value is sealed with the host's
-- secrets key (`secret` = 1), never stored in clear.
CREATE TABLE component_config (
    tenant TEXT NOT NULL,
    component TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    secret BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, component, key)
);
