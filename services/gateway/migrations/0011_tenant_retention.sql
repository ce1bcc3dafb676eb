-- How long an organization keeps its shoppers' personal data: entries older than this many
-- months are anonymised by the feedback service (as an erasure does; docs/privacy.md). It
-- travels in the tenant.updated event with the other settings.
ALTER TABLE tenants ADD COLUMN retention_months integer NOT NULL DEFAULT 24
    CHECK (retention_months BETWEEN 1 AND 120);
