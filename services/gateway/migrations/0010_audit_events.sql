-- The organization's audit log: one row per successful state-changing public request,
-- by a key or a signed-in member. Who (user, key, session, role), what (method, the
-- operation's path template, the path, the target id), when, with which outcome and
-- request id. Never a request body: bodies hold personal data and secrets. What changed
-- inside an entry stays in the feedback service's own audit_log (GET /v1/feedback/{id}).
CREATE TABLE audit_events (
    id         bigserial PRIMARY KEY,
    tenant_id  uuid        NOT NULL,
    at         timestamptz NOT NULL,
    user_id    uuid,
    key_id     uuid,
    session_id uuid,
    role       text        NOT NULL,
    method     text        NOT NULL,
    operation  text        NOT NULL,
    path       text        NOT NULL,
    target_id  text,
    status     smallint    NOT NULL,
    request_id text
);
-- Newest first per organization, and by actor or target; `at` alone for the purge.
CREATE INDEX audit_events_recent ON audit_events (tenant_id, at DESC, id DESC);
CREATE INDEX audit_events_user ON audit_events (tenant_id, user_id, at DESC, id DESC)
    WHERE user_id IS NOT NULL;
CREATE INDEX audit_events_key ON audit_events (tenant_id, key_id, at DESC, id DESC)
    WHERE key_id IS NOT NULL;
CREATE INDEX audit_events_target ON audit_events (tenant_id, target_id, at DESC, id DESC)
    WHERE target_id IS NOT NULL;
CREATE INDEX audit_events_at ON audit_events (at);
