-- A claim round takes each endpoint's own oldest due deliveries (store.deliveries.CLAIM_SQL),
-- so the due index leads with the endpoint. The index it replaces ordered every endpoint's
-- waiting deliveries in one line: a round read a stretch at each end of it, and a delivery
-- of a healthy endpoint that came due amid a dead tenant's backlog (a retry, or one that
-- waited for its endpoint's slots) was in neither stretch and waited behind that backlog.
CREATE INDEX deliveries_due_by_endpoint ON deliveries (subscription_id, next_attempt_at)
    WHERE status = 'pending';
DROP INDEX deliveries_due;
