-- The near-duplicate lookup must read only a campaign's latest fingerprints. With
-- `widget_id IS NULL` in the condition PostgreSQL cannot use the index's order (IS NULL
-- is not an equality for ordering), so entries without a widget were all read and
-- sorted on every insert: O(campaign size). One equality on a campaign key keeps the
-- scan to the window for both kinds of campaign.
DROP INDEX entries_campaign_fingerprints;
CREATE INDEX entries_campaign_fingerprints ON entries
    (tenant_id, coalesce(widget_id, '00000000-0000-0000-0000-000000000000'::uuid),
     created_at DESC)
    INCLUDE (simhash) WHERE simhash IS NOT NULL;
