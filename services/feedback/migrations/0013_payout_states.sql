-- Payout states that tell the truth (issue 24): an approved cash reward is `pending` until
-- the shop has paid it (`paid`) or given up (`failed`, `cancelled`); `processing` while it
-- is in a payment run. A voucher is paid when its code is handed out. `completed` was the
-- old name of `paid`.
ALTER TABLE payouts DROP CONSTRAINT payouts_status_check;
UPDATE payouts SET status = 'paid' WHERE status = 'completed';
ALTER TABLE payouts ADD CONSTRAINT payouts_status_check
    CHECK (status IN ('pending', 'processing', 'paid', 'failed', 'cancelled', 'blocked'));
ALTER TABLE payouts
    ADD COLUMN method text,             -- how it was paid: voucher | manual
    ADD COLUMN reference text,          -- the shop's payment reference, when it gave one
    ADD COLUMN failure_reason text,
    ADD COLUMN settled_by text,         -- who marked it paid, failed or cancelled
    ADD COLUMN updated_at timestamptz;
UPDATE payouts SET method = 'voucher' WHERE status = 'paid' AND kind = 'voucher';
UPDATE payouts SET method = 'manual' WHERE status = 'paid' AND kind <> 'voucher';
-- The payouts list (newest first) and its status filter.
CREATE INDEX payouts_listed ON payouts (tenant_id, created_at DESC, id DESC);
