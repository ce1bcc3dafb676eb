-- Claimed PayPal payouts paid through PayPal's Payouts API (services/feedback/providers.py,
-- sending.py), when the operator has configured it. Each attempt is recorded before the
-- call: `processing` with `provider` set and no reference yet means "sent, or about to be";
-- a retry sends the same request again (PayPal-Request-Id and sender_batch_id are the
-- payout id, so PayPal pays it once). The reference is PayPal's payout_batch_id, polled
-- until the item is paid or has failed.
ALTER TABLE payouts
    ADD COLUMN provider           text,         -- paypal: the provider paying it
    ADD COLUMN provider_reference text,         -- the provider's id of the payment
    ADD COLUMN provider_status    text,         -- what the provider said last (PENDING, …)
    ADD COLUMN provider_attempts  integer NOT NULL DEFAULT 0,
    -- When the worker may look at it again: the next send or status poll, and a lease
    -- while one replica is at it (taken by moving it forward).
    ADD COLUMN provider_due_at    timestamptz;

-- The worker's queue: claimed PayPal payouts to send, and those sent to follow up.
CREATE INDEX payouts_provider_due ON payouts (provider_due_at)
    WHERE kind = 'amount' AND payee_method = 'paypal' AND status IN ('claimed', 'processing');
