-- The delivery log and sent mail are kept for RESONANZ_WEBHOOK_LOG_RETENTION_DAYS, then
-- purged in batches: these find the oldest rows without reading the tables.
CREATE INDEX deliveries_created ON deliveries (created_at);
CREATE INDEX outgoing_mail_created ON outgoing_mail (created_at) WHERE status <> 'pending';
