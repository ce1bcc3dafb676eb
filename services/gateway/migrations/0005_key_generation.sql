-- Exact revocation (see services/gateway/key_changes.py): every change that can make a
-- cached key record wrong takes the next generation in its own transaction and announces
-- it at commit; each gateway records the generation it has seen, and whoever made the
-- change waits until every live gateway has seen it.
CREATE TABLE key_generation (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    value    bigint  NOT NULL
);
INSERT INTO key_generation (value) VALUES (0);

-- One row per running gateway process: its heartbeat and the generation it has seen
-- (its key cache was emptied after that change committed).
CREATE TABLE gateway_instances (
    id              uuid PRIMARY KEY,
    started_at      timestamptz NOT NULL DEFAULT now(),
    heartbeat_at    timestamptz NOT NULL DEFAULT now(),
    seen_generation bigint      NOT NULL
);

-- Same triggers as 0004; the function now bumps the generation. A single row (not a
-- sequence) gives generations in commit order: the change holding generation g+1 waited
-- for g's commit, so a gateway that has seen g+1 has emptied its cache after g as well.
-- It runs in whichever session changed a key (an operator's psql too): it finds its
-- table through the search path it was created with, this schema.
CREATE OR REPLACE FUNCTION notify_key_change() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
DECLARE
    generation bigint;
BEGIN
    UPDATE key_generation SET value = value + 1 RETURNING value INTO generation;
    PERFORM pg_notify('resonanz_gateway_keys', generation::text);
    RETURN NULL;
END
$$;
