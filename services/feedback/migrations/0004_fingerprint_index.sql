-- Near-duplicate lookups read the latest fingerprints of one campaign (or of the
-- entries without one) straight from the index.
DROP INDEX entries_widget_simhash;
CREATE INDEX entries_campaign_fingerprints ON entries (tenant_id, widget_id, created_at DESC)
    INCLUDE (simhash) WHERE simhash IS NOT NULL;
