-- Data-subject requests (GDPR access and erasure; docs/privacy.md). The feedback service
-- keeps the request record and coordinates: `progress` has one key per service with its
-- part (`{"status": "pending"|"completed", "completed_at", "counts"}`). The subject is
-- named by the SHA-256 of the normalised email; the address itself is kept only on an
-- export's row (to build its document on download), and erasing the subject removes it.
CREATE TABLE privacy_requests (
    id             uuid PRIMARY KEY,
    tenant_id      uuid        NOT NULL,
    kind           text        NOT NULL CHECK (kind IN ('export', 'erasure')),
    subject_sha256 text        NOT NULL,
    customer_email text,
    requested_by   text,
    requested_at   timestamptz NOT NULL DEFAULT now(),
    completed_at   timestamptz,
    progress       jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX privacy_requests_subject ON privacy_requests (tenant_id, subject_sha256);

-- A subject's entries, found by the address exactly, ignoring case.
CREATE INDEX entries_tenant_email ON entries (tenant_id, lower(customer_email))
    WHERE customer_email IS NOT NULL;

-- When an entry's personal data was erased (it keeps rating, category, status and times).
ALTER TABLE entries ADD COLUMN erased_at timestamptz;
