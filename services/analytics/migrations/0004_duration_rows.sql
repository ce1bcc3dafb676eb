-- Duration histograms a summary can take the median of without reading them whole
-- (issue 17 follow-up). A 90-day summary read about 190,000 rows of 1 % buckets (one per
-- bucket, slot or day, and measure) and took 0.3 to 0.8 s at 1 M entries. Now:
--   * a row holds 128 consecutive buckets (a factor of 3.6 in time): `n`, their total, and
--     `counts`, each bucket's count, so a median is found from the rows' totals first and
--     then in the one row that holds it (store.bucket_medians);
--   * rows are also kept per hour and per ISO week (UTC, Monday), so a bucket reads a week,
--     a few days and the hour or two between a local and the UTC midnight instead of
--     every day and four to eight 15-minute slots per edge (domain.cover).
-- Every row covers [start, start + span minutes); bucket `first_bucket + i - 1` is
-- `counts[i]`.
-- A row's counts plus a change's: a change touches one bucket or a few of the 128, so only
-- those are added (a third of the CPU of summing every pair in SQL).
CREATE FUNCTION add_counts(a integer[], b integer[]) RETURNS integer[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    FOR i IN 1 .. cardinality(b) LOOP
        IF b[i] <> 0 THEN
            a[i] := a[i] + b[i];
        END IF;
    END LOOP;
    RETURN a;
END
$$;

-- The 128 counts of a row from its buckets' positions (0 to 127) and counts.
CREATE FUNCTION dense_counts(positions integer[], ns bigint[]) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(coalesce(s.n, 0)::integer ORDER BY p)
    FROM generate_series(0, 127) AS p LEFT JOIN unnest(positions, ns) AS s(pos, n)
        ON s.pos = p
$$;

DROP TABLE durations;
CREATE TABLE durations (
    tenant_id    uuid        NOT NULL,
    span         smallint    NOT NULL CHECK (span IN (15, 60, 1440, 10080)),
    start        timestamptz NOT NULL,
    widget_id    uuid        NOT NULL,
    measure      text        NOT NULL CHECK (measure IN ('response', 'resolve')),
    first_bucket smallint    NOT NULL CHECK (first_bucket % 128 = 0),
    n            bigint      NOT NULL,
    counts       integer[]   NOT NULL CHECK (cardinality(counts) = 128),
    PRIMARY KEY (tenant_id, span, start, widget_id, measure, first_bucket)
);

-- Every aggregate is now kept for the whole shop under widget_id ffffffff-…-ffffffffffff
-- (domain.EVERY_WIDGET), and for the entry's widget if it has one: a summary of the whole
-- shop reads one row where it read one per widget. Computed from the snapshots held, as
-- domain.contribution does; migration 0003 counted every entry as responded
-- (greatest(0, NULL) is 0, not NULL).
CREATE TEMPORARY TABLE measured ON COMMIT DROP AS
WITH e AS (
    SELECT tenant_id,
           (snapshot ->> 'created_at')::timestamptz AS created_at,
           (snapshot ->> 'widget_id')::uuid AS widget_id,
           snapshot ->> 'status' AS status, (snapshot ->> 'rating')::int AS rating,
           nullif(snapshot ->> 'category', '') AS category,
           (snapshot ->> 'first_response_at')::timestamptz AS responded_at,
           CASE WHEN snapshot ->> 'status' IN ('resolved', 'archived')
                THEN (snapshot ->> 'resolved_at')::timestamptz END AS resolved_at
    FROM entry_state WHERE NOT coalesce((snapshot ->> 'deleted')::boolean, false)
)
SELECT e.tenant_id, e.created_at, w.widget_id, e.status, e.rating, e.category,
       CASE WHEN responded_at IS NOT NULL THEN greatest(0, round(
           extract(epoch FROM responded_at - created_at) * 1000))::bigint END AS response_ms,
       CASE WHEN resolved_at IS NOT NULL THEN greatest(0, round(
           extract(epoch FROM resolved_at - created_at) * 1000))::bigint END AS resolve_ms
FROM e CROSS JOIN LATERAL (VALUES (e.widget_id), ('ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid))
    AS w(widget_id)
WHERE w.widget_id IS NOT NULL;

DELETE FROM stats;
INSERT INTO stats (tenant_id, span, start, widget_id, submissions, rating_count, rating_sum,
                   responded, response_ms, resolved, resolve_ms)
SELECT tenant_id, g.span, date_bin(g.span * interval '1 minute', created_at,
                                   timestamptz '2000-01-03 00:00:00+00'),
       widget_id, count(*), count(rating), coalesce(sum(rating), 0), count(response_ms),
       coalesce(sum(response_ms), 0), count(resolve_ms), coalesce(sum(resolve_ms), 0)
FROM measured CROSS JOIN (VALUES (15::smallint), (1440::smallint)) AS g(span)
GROUP BY 1, 2, 3, 4;

DELETE FROM counts;
INSERT INTO counts (tenant_id, span, start, widget_id, dimension, value, n)
SELECT tenant_id, g.span, date_bin(g.span * interval '1 minute', created_at,
                                   timestamptz '2000-01-03 00:00:00+00'),
       widget_id, d.dimension, d.value, count(*)
FROM measured CROSS JOIN (VALUES (15::smallint), (1440::smallint)) AS g(span)
CROSS JOIN LATERAL (VALUES ('status', status), ('category', category),
                           ('rating', rating::text)) AS d(dimension, value)
WHERE d.value IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6;

INSERT INTO durations (tenant_id, span, start, widget_id, measure, first_bucket, n, counts)
SELECT tenant_id, span, start, widget_id, measure, first_bucket, sum(n),
       dense_counts(array_agg(bucket - first_bucket), array_agg(n))
FROM (
    SELECT tenant_id, g.span,
           date_bin(g.span * interval '1 minute', created_at,
                    timestamptz '2000-01-03 00:00:00+00') AS start,
           widget_id, measure, bucket, bucket / 128 * 128 AS first_bucket, count(*) AS n
    FROM measured
    CROSS JOIN LATERAL (VALUES ('response', response_ms), ('resolve', resolve_ms))
        AS d(measure, ms)
    CROSS JOIN LATERAL (SELECT CASE WHEN ms < 1 THEN 0
                                    ELSE 1 + floor(ln(ms::float8) / ln(1.01::float8))::int
                               END AS bucket) AS b
    CROSS JOIN (VALUES (15::smallint), (60::smallint), (1440::smallint), (10080::smallint))
        AS g(span)
    WHERE ms IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6
) f
GROUP BY tenant_id, span, start, widget_id, measure, first_bucket;
