-- Cash rewards are claimed (issue 24): on approval the shopper is emailed a single-use,
-- expiring link (only its SHA-256 digest is kept here) to a page where they say how to be
-- paid (bank transfer: IBAN and account holder; or PayPal) or decline. `claimed` is a cash
-- payout with payment details, waiting for the shop's payment run.
ALTER TABLE payouts DROP CONSTRAINT payouts_status_check;
ALTER TABLE payouts ADD CONSTRAINT payouts_status_check
    CHECK (status IN ('pending', 'claimed', 'processing', 'paid', 'failed', 'cancelled',
                      'blocked'));
ALTER TABLE payouts
    ADD COLUMN claim_digest     bytea UNIQUE,  -- SHA-256 of the claim link's token
    ADD COLUMN claim_offered_at timestamptz,   -- when the claim mail was queued
    ADD COLUMN claim_expires_at timestamptz,
    ADD COLUMN claimed_at       timestamptz,
    -- How the shopper wants to be paid: sepa | paypal. The details (IBAN, account holder,
    -- PayPal address) are sealed under the key ring to this payout; `payee_masked` is what
    -- the API and dashboard show (DE89 **** **** 3000, k***@example.de).
    ADD COLUMN payee_method     text CHECK (payee_method IN ('sepa', 'paypal')),
    ADD COLUMN payee_sealed     text,
    ADD COLUMN payee_masked     text,
    ADD COLUMN batch_id         uuid;
-- The payout worker's queue of cash payouts still to be offered to their shopper.
CREATE INDEX payouts_to_offer ON payouts (created_at)
    WHERE kind = 'amount' AND status = 'pending' AND claim_offered_at IS NULL;

-- The shop's own account that SEPA credit transfers are paid from (one per tenant). The
-- IBAN is sealed like the shoppers' (a sole trader's account is personal data too).
CREATE TABLE payout_accounts (
    tenant_id   uuid PRIMARY KEY,
    name        text        NOT NULL,
    iban_sealed text        NOT NULL,
    iban_masked text        NOT NULL,
    bic         text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text
);

-- A SEPA credit-transfer batch: the claimed bank payouts taken at its creation
-- (`processing`), downloaded as pain.001, then marked paid once.
CREATE TABLE payout_batches (
    id         uuid PRIMARY KEY,
    tenant_id  uuid           NOT NULL,
    status     text           NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid')),
    message_id text           NOT NULL,  -- pain.001 MsgId: the same on every download
    currency   text           NOT NULL,
    total      numeric(12, 2) NOT NULL,
    count      integer        NOT NULL,
    execution_date date       NOT NULL,
    created_at timestamptz    NOT NULL DEFAULT now(),
    created_by text,
    paid_at    timestamptz,
    paid_by    text,
    reference  text
);
CREATE INDEX payout_batches_listed ON payout_batches (tenant_id, created_at DESC, id DESC);
ALTER TABLE payouts ADD CONSTRAINT payouts_batch_fk
    FOREIGN KEY (batch_id) REFERENCES payout_batches (id);
CREATE INDEX payouts_batched ON payouts (batch_id) WHERE batch_id IS NOT NULL;
