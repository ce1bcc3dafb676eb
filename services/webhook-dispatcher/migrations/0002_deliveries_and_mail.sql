-- Subscriptions keep their secret readable: every delivery is signed with it. It is
-- shown to the tenant only once. `failing_since` starts a run of failures; a success
-- clears it.
ALTER TABLE subscriptions ADD COLUMN description text;
ALTER TABLE subscriptions ADD COLUMN disabled_at timestamptz;

-- One row per (event, subscription): the durable queue. The id is the webhook-id,
-- the same on every attempt.
CREATE TABLE deliveries (
    id               text PRIMARY KEY,
    subscription_id  uuid        NOT NULL REFERENCES subscriptions (id),
    tenant_id        uuid        NOT NULL,
    event_id         uuid        NOT NULL,
    event_type       text        NOT NULL,
    webhook_type     text        NOT NULL,
    body             bytea       NOT NULL,
    event_time       timestamptz NOT NULL,
    status           text        NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
    -- Attempts in the current retry cycle (resend and recover start a new one).
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    -- A claim: no other dispatcher touches the row until the lease runs out.
    locked_until     timestamptz,
    locked_by        text,
    last_status      integer,
    last_outcome     text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    UNIQUE (event_id, subscription_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_subscription ON deliveries (subscription_id, created_at DESC);
CREATE INDEX deliveries_failed ON deliveries (subscription_id, created_at)
    WHERE status = 'failed';

CREATE TABLE attempts (
    id               bigserial PRIMARY KEY,
    delivery_id      text        NOT NULL REFERENCES deliveries (id),
    subscription_id  uuid        NOT NULL,
    attempted_at     timestamptz NOT NULL,
    duration_ms      double precision NOT NULL,
    outcome          text        NOT NULL,
    status_code      integer,
    response_body    text,
    error            text
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, id);

-- Outgoing email, drained by the mail worker. A row for a tenant's admins is expanded
-- into one row per admin when it is sent.
CREATE TABLE outgoing_mail (
    id               bigserial PRIMARY KEY,
    dedup_key        text        NOT NULL UNIQUE,
    tenant_id        uuid        NOT NULL,
    kind             text        NOT NULL,
    audience         text        NOT NULL CHECK (audience IN ('address', 'tenant_admins')),
    recipient        text,
    subject          text        NOT NULL,
    body             text        NOT NULL,
    status           text        NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sent', 'expanded', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    locked_until     timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz
);
CREATE INDEX outgoing_mail_due ON outgoing_mail (next_attempt_at) WHERE status = 'pending';
