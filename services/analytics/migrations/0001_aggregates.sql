-- The latest known snapshot of each entry: lets an event replace its predecessor's
-- contribution exactly, whatever order events arrive in.
CREATE TABLE entry_state (
    entry_id   uuid PRIMARY KEY,
    tenant_id  uuid    NOT NULL,
    version    integer NOT NULL,
    snapshot   jsonb   NOT NULL
);

-- Pre-aggregated per tenant, widget ('' when none) and creation day.
CREATE TABLE daily_stats (
    tenant_id           uuid    NOT NULL,
    widget_key          text    NOT NULL,
    day                 date    NOT NULL,
    submissions         bigint  NOT NULL DEFAULT 0,
    rating_count        bigint  NOT NULL DEFAULT 0,
    rating_sum          bigint  NOT NULL DEFAULT 0,
    responded           bigint  NOT NULL DEFAULT 0,
    resolved            bigint  NOT NULL DEFAULT 0,
    resolve_seconds_sum double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, widget_key, day)
);

-- Distributions: rating, category and status counts per day.
CREATE TABLE daily_counts (
    tenant_id  uuid   NOT NULL,
    widget_key text   NOT NULL,
    day        date   NOT NULL,
    dimension  text   NOT NULL,
    value      text   NOT NULL,
    n          bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, widget_key, day, dimension, value)
);
