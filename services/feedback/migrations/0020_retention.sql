-- Each organization's retention as the gateway announced it (tenant.updated): entries
-- older than `months` are anonymised by the retention job (retention.py). No row: the
-- default of 24 months. `version` keeps the newest whatever order events arrive in.
CREATE TABLE tenant_retention (
    tenant_id uuid PRIMARY KEY,
    months    integer NOT NULL CHECK (months BETWEEN 1 AND 120),
    version   bigint  NOT NULL
);

-- The job finds the oldest entries not anonymised yet without reading the table.
CREATE INDEX entries_not_erased_created ON entries (created_at) WHERE erased_at IS NULL;

-- The organization's requests, newest first (GET /privacy/requests).
CREATE INDEX privacy_requests_recent ON privacy_requests (tenant_id, requested_at DESC, id DESC);
