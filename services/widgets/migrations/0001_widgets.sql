-- One record is both a FeedBackPro widget and a Pay4Feedback campaign.
CREATE TABLE widgets (
    id                 uuid PRIMARY KEY,
    tenant_id          uuid        NOT NULL,
    public_id          text        NOT NULL UNIQUE,
    name               text        NOT NULL,
    status             text        NOT NULL DEFAULT 'DRAFT'
                                   CHECK (status IN ('DRAFT', 'ACTIVE', 'PAUSED', 'ENDED')),
    placement          text        NOT NULL DEFAULT 'bottom-right'
                                   CHECK (placement IN ('bottom-right', 'bottom-left', 'inline')),
    trigger            jsonb       NOT NULL DEFAULT '{"type": "manual"}',
    theme              jsonb       NOT NULL DEFAULT '{}',
    languages          text[]      NOT NULL DEFAULT ARRAY['de', 'en'],
    questions          jsonb       NOT NULL DEFAULT '[]',
    reward             jsonb,
    auto_approve_above smallint,
    auto_reject_below  smallint,
    -- Shop origins allowed to embed and post; empty means any origin.
    allowed_origins    text[]      NOT NULL DEFAULT '{}',
    pause_reason       text,
    paused_at          timestamptz,
    resume_at          timestamptz,
    ended_at           timestamptz,
    version            integer     NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX widgets_tenant ON widgets (tenant_id, created_at DESC, id DESC);
-- The scheduler only looks at paused widgets with a resume time.
CREATE INDEX widgets_due_resume ON widgets (resume_at) WHERE status = 'PAUSED' AND resume_at IS NOT NULL;
