-- Every secret a rotation retires keeps signing until its own promised time: a second
-- rotation within the 24 h overlap no longer drops the first one's previous secret. The
-- retired secrets are one sealed JSON list `[{"secret", "until"}]`; `previous_until` is the
-- latest of their times. A row from before keeps its one previous secret in the columns
-- `previous_secret(_sealed)` until its next rotation moves it into the list.
ALTER TABLE subscriptions ADD COLUMN previous_secrets_sealed text;
