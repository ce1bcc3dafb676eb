-- Team members sign in with a password (an argon2id hash: salt and parameters inside,
-- never the password) and hold browser sessions. Session and reset tokens are stored as
-- SHA-256 digests only; a session row is deleted when it ends.
ALTER TABLE users ADD COLUMN password_hash text;
ALTER TABLE users ADD COLUMN password_changed_at timestamptz;

CREATE TABLE sessions (
    id           uuid PRIMARY KEY,
    token_digest bytea       NOT NULL UNIQUE,
    user_id      uuid        NOT NULL REFERENCES users (id),
    tenant_id    uuid        NOT NULL REFERENCES tenants (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- written at most once a minute per session, not once per request
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    -- the absolute end; the idle end is last_seen_at + the idle timeout
    expires_at   timestamptz NOT NULL,
    user_agent   text,
    ip_address   text
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE password_resets (
    token_digest bytea PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id),
    tenant_id    uuid        NOT NULL REFERENCES tenants (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);
CREATE INDEX password_resets_user ON password_resets (user_id, created_at);

-- Failed sign-ins, counted per account (the email as typed) and per client address over
-- a window; both kept as HMAC digests under the pepper, so neither an email that is no
-- member's nor an address rests here in plaintext. A success clears its account's rows.
CREATE TABLE sign_in_failures (
    subject   bytea       NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sign_in_failures_subject ON sign_in_failures (subject, failed_at);
CREATE INDEX sign_in_failures_at ON sign_in_failures (failed_at);

CREATE INDEX users_email ON users (lower(email)) WHERE status = 'active';
