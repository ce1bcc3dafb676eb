CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    name        text        NOT NULL,
    owner_id    uuid,
    rate_limits jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    tenant_id      uuid        NOT NULL REFERENCES tenants (id),
    email          text        NOT NULL,
    name           text,
    role           text        NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    status         text        NOT NULL DEFAULT 'active'
                               CHECK (status IN ('active', 'pending', 'removed')),
    email_verified boolean     NOT NULL DEFAULT false,
    last_active_at timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    removed_at     timestamptz
);
CREATE UNIQUE INDEX users_tenant_email ON users (tenant_id, lower(email)) WHERE status <> 'removed';
CREATE INDEX users_tenant ON users (tenant_id, created_at);

CREATE TABLE invitations (
    token_digest bytea PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id),
    tenant_id    uuid        NOT NULL REFERENCES tenants (id),
    expires_at   timestamptz NOT NULL,
    accepted_at  timestamptz
);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    tenant_id    uuid        NOT NULL REFERENCES tenants (id),
    name         text        NOT NULL DEFAULT '',
    prefix       text        NOT NULL,
    digest       bytea       NOT NULL UNIQUE,
    role         text        NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    user_id      uuid REFERENCES users (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    -- set on rotation: the old key keeps working until then
    expires_at   timestamptz,
    replaced_by  uuid REFERENCES api_keys (id)
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);
