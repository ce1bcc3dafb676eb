-- Tracking rows are pruned by age (shared.consumer.forget_processed). They arrive in
-- time order, so a BRIN index finds the old ones at almost no cost per insert.
CREATE INDEX processed_events_age ON processed_events USING brin (processed_at);
