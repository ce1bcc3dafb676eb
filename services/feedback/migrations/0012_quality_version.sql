-- Which version of the quality scorer (scoring.VERSION) computed an entry's stored score.
-- The version has always been inside `quality` too; as a column `rescore` can find a
-- tenant's entries scored by another version without reading every document. NULL: scored
-- before this column existed (by 2026.1 or earlier), which the rescore treats as outdated.
-- No backfill and no default, so adding it rewrites no rows.
ALTER TABLE entries ADD COLUMN quality_version text;
