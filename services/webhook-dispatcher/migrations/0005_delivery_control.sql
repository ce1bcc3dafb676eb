-- The delivery log's `attempts` counts every attempt a delivery ever had; `cycle_attempts`
-- counts the current retry cycle (resend and recover start a new one) and drives the
-- schedule. `last_failed_at` tells a run of failures (each within 24 h of the previous)
-- from a single failure after a quiet spell: only a run of 5 days disables an endpoint.
ALTER TABLE deliveries ADD COLUMN cycle_attempts integer NOT NULL DEFAULT 0;
UPDATE deliveries SET cycle_attempts = attempts WHERE status = 'pending';
ALTER TABLE subscriptions ADD COLUMN last_failed_at timestamptz;
UPDATE subscriptions SET last_failed_at = failing_since WHERE failing_since IS NOT NULL;
