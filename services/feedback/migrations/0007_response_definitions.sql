-- What counts as a response and as resolved changed (issue 17):
--  * first_response_at is the first deliberate human step: a status moved to pending,
--    in_progress or resolved, an assignee set, or a note added. It used to be the first
--    change of any kind, archiving unread and re-categorising included.
--  * resolved_at is kept when a resolved entry is archived; it used to be cleared.
-- Both are recomputed from the audit trail, which holds every change with its time. The
-- analytics aggregates follow after `python -m resonanz.analytics rebuild --all`.
UPDATE entries e
SET first_response_at = (
    SELECT min(a.at) FROM audit_log a
    WHERE a.entry_id = e.id AND a.action = 'updated'
      AND ((a.after ->> 'status' IN ('pending', 'in_progress', 'resolved')
            AND a.after ->> 'status' IS DISTINCT FROM a.before ->> 'status')
           OR (a.after ->> 'assignee' IS NOT NULL
               AND a.after ->> 'assignee' IS DISTINCT FROM a.before ->> 'assignee')
           OR a.after ? 'note'))
WHERE e.first_response_at IS NOT NULL;

-- An archived entry whose last move was resolved -> archived: resolved when it was last
-- moved to resolved.
UPDATE entries e
SET resolved_at = (
    SELECT max(r.at) FROM audit_log r
    WHERE r.entry_id = e.id AND r.after ->> 'status' = 'resolved'
      AND r.before ->> 'status' IS DISTINCT FROM 'resolved')
WHERE e.status = 'archived' AND e.resolved_at IS NULL
  AND (SELECT a.before ->> 'status' FROM audit_log a
       WHERE a.entry_id = e.id AND a.after ->> 'status' = 'archived'
         AND a.before ->> 'status' IS DISTINCT FROM 'archived'
       ORDER BY a.id DESC LIMIT 1) = 'resolved';
