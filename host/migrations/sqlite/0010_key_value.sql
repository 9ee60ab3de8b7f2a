-- Keep in step with the other backend's 0010.
-- wasi:keyvalue data: per tenant and bucket. `version` changes (to a random number) on
-- every write, so that a compare-and-swap never mistakes a value deleted and written
-- again for the one it read.
CREATE TABLE kv_entries (
    tenant TEXT NOT NULL,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, bucket, key)
);

-- Bytes of keys and values each tenant holds (its kv_bytes quota), kept by triggers.
CREATE TABLE kv_usage (
    tenant TEXT PRIMARY KEY,
    bytes BIGINT NOT NULL
);

CREATE TRIGGER kv_entry_inserted AFTER INSERT ON kv_entries
BEGIN
    INSERT OR IGNORE INTO kv_usage (tenant, bytes) VALUES (NEW.tenant, 0);
    UPDATE kv_usage SET bytes = bytes + length(CAST(NEW.key AS BLOB)) + length(NEW.value)
    WHERE tenant = NEW.tenant;
END;

CREATE TRIGGER kv_entry_updated AFTER UPDATE OF value ON kv_entries
BEGIN
    UPDATE kv_usage SET bytes = bytes + length(NEW.value) - length(OLD.value)
    WHERE tenant = NEW.tenant;
END;

CREATE TRIGGER kv_entry_deleted AFTER DELETE ON kv_entries
BEGIN
    UPDATE kv_usage SET bytes = bytes - length(CAST(OLD.key AS BLOB)) - length(OLD.value)
    WHERE tenant = OLD.tenant;
END;
