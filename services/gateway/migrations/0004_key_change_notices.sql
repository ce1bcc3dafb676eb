-- Gateways cache key lookups; any change that can make a cached key record wrong
-- (revocation, expiry, role, owner, the tenant's rate limits, deletion) tells every
-- gateway at commit, whoever made it: the API, the operator CLI or plain SQL.
CREATE FUNCTION notify_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('resonanz_gateway_keys', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_changed
    AFTER UPDATE OF revoked_at, expires_at, role, user_id, digest, tenant_id OR DELETE
    ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION notify_key_change();

CREATE TRIGGER tenants_changed
    AFTER UPDATE OF rate_limits OR DELETE
    ON tenants FOR EACH STATEMENT EXECUTE FUNCTION notify_key_change();
