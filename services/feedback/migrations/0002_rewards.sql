ALTER TABLE entries
    ADD COLUMN reviewed_by   text,
    ADD COLUMN reviewed_at   timestamptz,
    ADD COLUMN review_reason text;

-- What this service knows of each widget/campaign, kept from widget events.
CREATE TABLE campaigns (
    widget_id          uuid PRIMARY KEY,
    tenant_id          uuid    NOT NULL,
    status             text    NOT NULL,
    reward             jsonb,
    auto_approve_above smallint,
    auto_reject_below  smallint,
    version            integer NOT NULL DEFAULT 0
);

CREATE TABLE voucher_codes (
    widget_id uuid NOT NULL REFERENCES campaigns (widget_id),
    code      text NOT NULL,
    payout_id uuid,
    PRIMARY KEY (widget_id, code)
);
CREATE INDEX voucher_codes_free ON voucher_codes (widget_id) WHERE payout_id IS NULL;

-- One payout per entry at most: the unique key makes a second approval pay nothing.
CREATE TABLE payouts (
    id           uuid PRIMARY KEY,
    tenant_id    uuid        NOT NULL,
    entry_id     uuid        NOT NULL UNIQUE REFERENCES entries (id),
    widget_id    uuid,
    kind         text        NOT NULL CHECK (kind IN ('amount', 'voucher', 'none')),
    amount       numeric(12, 2),
    currency     text,
    voucher_code text,
    status       text        NOT NULL DEFAULT 'pending'
                             CHECK (status IN ('pending', 'completed', 'blocked')),
    blocked_reason text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);
CREATE INDEX payouts_pending ON payouts (created_at) WHERE status = 'pending';

CREATE TABLE ledger (
    id         bigserial PRIMARY KEY,
    tenant_id  uuid          NOT NULL,
    payout_id  uuid          NOT NULL UNIQUE REFERENCES payouts (id),
    amount     numeric(12, 2) NOT NULL,
    currency   text          NOT NULL,
    booked_at  timestamptz   NOT NULL DEFAULT now()
);
