-- The inbox's filters and full-text search (issue 16).
--
-- Search: one stored tsvector over the body and every string among the answers, built
-- with three configurations at once: 'german' and 'english' stem ("Lieferungen" and
-- "Lieferung" both become `liefer`, "shipped" and "shipping" `ship`), 'simple' keeps each
-- word as written (names, order numbers, words of neither language). An entry does not
-- reliably know its language (the quality score guesses de/en/unknown, and a German shop
-- gets English answers), so every entry is indexed in all three; a query is parsed in
-- each and matches when any of the three matches (services/feedback/store.py).
ALTER TABLE entries ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('simple'::regconfig, coalesce(body, ''))
    || to_tsvector('german'::regconfig, coalesce(body, ''))
    || to_tsvector('english'::regconfig, coalesce(body, ''))
    || jsonb_to_tsvector('simple'::regconfig, answers, '["string"]')
    || jsonb_to_tsvector('german'::regconfig, answers, '["string"]')
    || jsonb_to_tsvector('english'::regconfig, answers, '["string"]')
) STORED;
CREATE INDEX entries_search ON entries USING gin (search) WHERE deleted_at IS NULL;

-- "Assigned to me", newest first, without reading everyone else's entries.
CREATE INDEX entries_tenant_assignee_recent
    ON entries (tenant_id, assignee, created_at DESC, id DESC)
    WHERE deleted_at IS NULL AND assignee IS NOT NULL;

-- An entry of a widget whose campaign pays no reward has no reward to review: its reward
-- state is `none`, not `pending`, so a rewards queue (reward_status=pending) lists only
-- entries with something to approve. New entries get it when they are stored
-- (commands.create_entry); this corrects the ones stored before. Entries without a widget
-- stay reviewable as before (Pay4Feedback approves and rejects responses as such).
UPDATE entries e SET reward_status = 'none'
FROM campaigns c
WHERE c.widget_id = e.widget_id AND e.reward_status = 'pending'
  AND NOT (coalesce(c.reward ->> 'type', '') = 'voucher'
           OR coalesce(c.reward -> 'voucher_pool', 'null') NOT IN ('null', 'false', '""', '[]', '{}')
           OR coalesce(c.reward -> 'voucher_codes', 'null') NOT IN ('null', 'false', '""', '[]', '{}')
           OR coalesce(c.reward -> 'amount', 'null') <> 'null');
