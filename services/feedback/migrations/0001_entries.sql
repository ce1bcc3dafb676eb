CREATE TABLE entries (
    id                uuid PRIMARY KEY,
    tenant_id         uuid        NOT NULL,
    widget_id         uuid,
    body              text,
    rating            smallint    CHECK (rating BETWEEN 1 AND 5),
    category          text,
    metadata          jsonb       NOT NULL DEFAULT '{}',
    customer_email    text,
    answers           jsonb       NOT NULL DEFAULT '{}',
    status            text        NOT NULL DEFAULT 'new',
    assignee          text,
    quality           jsonb,
    quality_score     smallint,
    simhash           bigint,
    reward_status     text        NOT NULL DEFAULT 'none',
    version           integer     NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    first_response_at timestamptz,
    resolved_at       timestamptz,
    deleted_at        timestamptz
);
-- Newest-first lists and keyset pages per tenant stay index-only scans at any depth.
CREATE INDEX entries_tenant_recent ON entries (tenant_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX entries_tenant_status_recent ON entries (tenant_id, status, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX entries_tenant_widget_recent ON entries (tenant_id, widget_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX entries_open_by_assignee ON entries (tenant_id, assignee)
    WHERE deleted_at IS NULL AND status <> 'resolved';
CREATE INDEX entries_widget_simhash ON entries (tenant_id, widget_id, created_at DESC)
    WHERE simhash IS NOT NULL;

CREATE TABLE notes (
    id         uuid PRIMARY KEY,
    entry_id   uuid        NOT NULL REFERENCES entries (id),
    tenant_id  uuid        NOT NULL,
    author     text,
    body       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notes_entry ON notes (entry_id, created_at);

-- Every change to an entry: who, when, before and after.
CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    entry_id   uuid        NOT NULL REFERENCES entries (id),
    tenant_id  uuid        NOT NULL,
    actor      text,
    action     text        NOT NULL,
    before     jsonb,
    after      jsonb,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_entry ON audit_log (entry_id, id);
