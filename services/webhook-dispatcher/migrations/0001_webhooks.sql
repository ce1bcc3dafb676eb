CREATE TABLE subscriptions (
    id               uuid PRIMARY KEY,
    tenant_id        uuid        NOT NULL,
    url              text        NOT NULL,
    events           text[]      NOT NULL,
    secret           text        NOT NULL,
    previous_secret  text,
    previous_until   timestamptz,
    enabled          boolean     NOT NULL DEFAULT true,
    disabled_reason  text,
    failing_since    timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz
);
CREATE INDEX subscriptions_tenant ON subscriptions (tenant_id) WHERE deleted_at IS NULL;
