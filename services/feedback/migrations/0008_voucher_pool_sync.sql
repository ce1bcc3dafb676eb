-- Voucher pools no longer travel in widget events (vouchers are money): an event names a
-- pool by its size and digest, and the payout worker fetches the codes from the widgets
-- service when the digest differs from the one it last fetched.
ALTER TABLE campaigns ADD COLUMN voucher_pool_synced text;
