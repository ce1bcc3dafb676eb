-- The inbox's search looks among a tenant's newest entries that pass the list's other
-- filters first (store._searched). With the filters' columns in the newest-first index,
-- that walk reads the index alone (an index-only scan) instead of one table row per entry
-- it passes over: 7 ms instead of 70 ms for a common word with a rating and a score
-- filter at 1 M entries, when the matching entries are not among the newest.
CREATE INDEX entries_tenant_recent_filters ON entries (tenant_id, created_at DESC, id DESC)
    INCLUDE (rating, quality_score, status, reward_status) WHERE deleted_at IS NULL;
DROP INDEX entries_tenant_recent;
ALTER INDEX entries_tenant_recent_filters RENAME TO entries_tenant_recent;
