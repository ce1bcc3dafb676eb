-- An assignee is free text, but one that names a user must be spelled one way: when a
-- member leaves, their open entries are found by their id, and to a text comparison
-- `ABC…` is not `abc…`. The API stores ids in the canonical spelling from now on; this
-- rewrites those stored before in another one (upper case, no hyphens, braces, urn:uuid:).
UPDATE entries
SET assignee = regexp_replace(regexp_replace(assignee, '^urn:uuid:', '', 'i'),
                              '[^0-9a-fA-F]', '', 'g')::uuid::text
WHERE assignee ~* ('^(urn:uuid:)?(\{[0-9a-f]{32}\}|[0-9a-f]{32}'
                   '|\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}'
                   '|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$')
  AND assignee !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
