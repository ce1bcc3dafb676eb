-- The inbox's change mark (store.change_mark, the lists' ETag): the tenant's newest
-- updated_at and the entries changed shortly before it, read from the index alone.
CREATE INDEX entries_tenant_changed ON entries (tenant_id, updated_at) INCLUDE (version);

-- The rewards queue's totals (store.reward_totals): one tenant's payouts.
CREATE INDEX payouts_tenant ON payouts (tenant_id, kind, currency);
