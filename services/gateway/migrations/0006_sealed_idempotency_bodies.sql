-- A replayed response may carry a one-time secret (a new webhook's signing secret, an
-- invitation token): it is kept sealed under the application key ring, never in plaintext.
-- Rows written before this migration keep their plaintext body until they expire (24 h),
-- so a retry in flight across the upgrade is still replayed, not done twice.
ALTER TABLE idempotency_keys ADD COLUMN body_sealed text;
