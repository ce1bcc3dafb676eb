-- Reward limits (issue 24): an approval of a campaign with a budget sums the campaign's cash
-- payouts, and one with a per-shopper limit counts the shopper's approved rewards of the
-- campaign (by email, any case) within its period, both under the campaign row's lock
-- (services/feedback/reward_limits.py). These keep each a short index read.
CREATE INDEX payouts_of_widget ON payouts (widget_id, created_at);
CREATE INDEX entries_approved_shopper ON entries (widget_id, lower(customer_email))
    WHERE reward_status = 'approved' AND customer_email IS NOT NULL;
