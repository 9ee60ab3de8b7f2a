-- Keep in step with the other backend's 0010.
-- wasi:keyvalue data: per tenant and bucket. `version` changes (to a random number) on
-- every write, so that a compare-and-swap never mistakes a value deleted and written
-- again for the one it read.
CREATE TABLE kv_entries (
    tenant TEXT NOT NULL,
    bucket TEXT NOT NULL,
    -- Byte order, as on SQLite: listing by prefix and cursor is the same on both.
    key TEXT COLLATE "C" NOT NULL,
    value BYTEA NOT NULL,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, bucket, key)
);

-- Bytes of keys and values each tenant holds (its kv_bytes quota), kept by a trigger. The
-- row is locked by every write of the tenant until it commits, which is what makes the
-- quota check after a write exact.
CREATE TABLE kv_usage (
    tenant TEXT PRIMARY KEY,
    bytes BIGINT NOT NULL
);

CREATE FUNCTION tsdev_count_kv_bytes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO kv_usage (tenant, bytes)
        VALUES (NEW.tenant, octet_length(NEW.key) + octet_length(NEW.value))
        ON CONFLICT (tenant) DO UPDATE SET bytes = kv_usage.bytes + EXCLUDED.bytes;
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE kv_usage SET bytes = bytes + octet_length(NEW.value) - octet_length(OLD.value)
        WHERE tenant = NEW.tenant;
    ELSE
        UPDATE kv_usage SET bytes = bytes - octet_length(OLD.key) - octet_length(OLD.value)
        WHERE tenant = OLD.tenant;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER kv_bytes_counted AFTER INSERT OR UPDATE OF value OR DELETE ON kv_entries
    FOR EACH ROW EXECUTE FUNCTION tsdev_count_kv_bytes();
