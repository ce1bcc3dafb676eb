CREATE INDEX entries_tenant_reward_recent ON entries (tenant_id, reward_status, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;
