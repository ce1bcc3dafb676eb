-- Time-to-resolve distribution in log-scale buckets (2 % relative width): the median
-- comes from at most a few hundred rows, however many entries were resolved.
CREATE TABLE daily_resolve_hist (
    tenant_id  uuid     NOT NULL,
    widget_key text     NOT NULL,
    day        date     NOT NULL,
    bucket     smallint NOT NULL,
    n          bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, widget_key, day, bucket)
);
