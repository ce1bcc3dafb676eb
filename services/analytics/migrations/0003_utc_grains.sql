-- Aggregates at two grains of UTC time instead of UTC days (issue 17): 15-minute slots,
-- on which every time zone's midnight falls, and UTC days, which keep a long period
-- cheap to read. A summary in a tenant's zone reads whole UTC days and corrects each
-- bucket edge with slots (domain.Window.pieces), so a zone change needs no rebuild.
-- Each row covers [start, start + span minutes); widget_id is the nil UUID for entries
-- without a widget (a uuid, so every spelling of one id is one key). Durations are whole
-- milliseconds, summed exactly.
CREATE TABLE stats (
    tenant_id    uuid        NOT NULL,
    span         smallint    NOT NULL CHECK (span IN (15, 1440)),
    start        timestamptz NOT NULL,
    widget_id    uuid        NOT NULL,
    submissions  bigint      NOT NULL DEFAULT 0,
    rating_count bigint      NOT NULL DEFAULT 0,
    rating_sum   bigint      NOT NULL DEFAULT 0,
    responded    bigint      NOT NULL DEFAULT 0,
    response_ms  bigint      NOT NULL DEFAULT 0,
    resolved     bigint      NOT NULL DEFAULT 0,
    resolve_ms   bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, span, start, widget_id)
);

-- Distributions: rating, category and status counts.
CREATE TABLE counts (
    tenant_id  uuid        NOT NULL,
    span       smallint    NOT NULL CHECK (span IN (15, 1440)),
    start      timestamptz NOT NULL,
    widget_id  uuid        NOT NULL,
    dimension  text        NOT NULL,
    value      text        NOT NULL,
    n          bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, span, start, widget_id, dimension, value)
);

-- Time to first response and to resolve in log-scale buckets of milliseconds, 1 % wide
-- (domain.duration_bucket): a median read from them is within 0.5 % of the exact one.
CREATE TABLE durations (
    tenant_id  uuid        NOT NULL,
    span       smallint    NOT NULL CHECK (span IN (15, 1440)),
    start      timestamptz NOT NULL,
    widget_id  uuid        NOT NULL,
    measure    text        NOT NULL CHECK (measure IN ('response', 'resolve')),
    bucket     smallint    NOT NULL,
    n          bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, span, start, widget_id, measure, bucket)
);

-- Each tenant's time zone, from the gateway's tenant.updated events (none: Europe/Berlin).
CREATE TABLE tenant_zones (
    tenant_id  uuid   PRIMARY KEY,
    timezone   text   NOT NULL,
    version    bigint NOT NULL
);

-- The new aggregates from the snapshots held, as domain.contribution computes them, so
-- summaries and later deltas stay exact across the upgrade. `rebuild --all` afterwards
-- applies the feedback service's new definitions of responded and resolved.
CREATE TEMPORARY TABLE contributing ON COMMIT DROP AS
WITH e AS (
    SELECT tenant_id,
           (snapshot ->> 'created_at')::timestamptz AS created_at,
           coalesce((snapshot ->> 'widget_id')::uuid, '00000000-0000-0000-0000-000000000000')
               AS widget_id,
           snapshot ->> 'status' AS status, (snapshot ->> 'rating')::int AS rating,
           nullif(snapshot ->> 'category', '') AS category,
           (snapshot ->> 'first_response_at')::timestamptz AS responded_at,
           CASE WHEN snapshot ->> 'status' IN ('resolved', 'archived')
                THEN (snapshot ->> 'resolved_at')::timestamptz END AS resolved_at
    FROM entry_state WHERE NOT coalesce((snapshot ->> 'deleted')::boolean, false)
), measured AS (
    SELECT e.*,
           greatest(0, round(extract(epoch FROM responded_at - created_at) * 1000))::bigint
               AS response_ms,
           greatest(0, round(extract(epoch FROM resolved_at - created_at) * 1000))::bigint
               AS resolve_ms
    FROM e
)
SELECT m.*, g.span,
       date_bin(CASE g.span WHEN 15 THEN interval '15 minutes' ELSE interval '1 day' END,
                m.created_at, timestamptz '2000-01-01 00:00:00+00') AS start
FROM measured m CROSS JOIN (VALUES (15::smallint), (1440::smallint)) AS g(span);

INSERT INTO stats (tenant_id, span, start, widget_id, submissions, rating_count, rating_sum,
                   responded, response_ms, resolved, resolve_ms)
SELECT tenant_id, span, start, widget_id, count(*), count(rating), coalesce(sum(rating), 0),
       count(response_ms), coalesce(sum(response_ms), 0), count(resolve_ms),
       coalesce(sum(resolve_ms), 0)
FROM contributing GROUP BY tenant_id, span, start, widget_id;

INSERT INTO counts (tenant_id, span, start, widget_id, dimension, value, n)
SELECT tenant_id, span, start, widget_id, dimension, value, count(*)
FROM contributing,
     LATERAL (VALUES ('status', status), ('category', category), ('rating', rating::text))
         AS d(dimension, value)
WHERE value IS NOT NULL
GROUP BY tenant_id, span, start, widget_id, dimension, value;

INSERT INTO durations (tenant_id, span, start, widget_id, measure, bucket, n)
SELECT tenant_id, span, start, widget_id, measure,
       CASE WHEN ms < 1 THEN 0 ELSE 1 + floor(ln(ms::float8) / ln(1.01::float8)) END, count(*)
FROM contributing,
     LATERAL (VALUES ('response', response_ms), ('resolve', resolve_ms)) AS d(measure, ms)
WHERE ms IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6;

DROP TABLE daily_stats, daily_counts, daily_resolve_hist;
