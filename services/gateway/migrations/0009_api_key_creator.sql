-- Who made a key: the member signed in (or the member whose key was used) when it was
-- created or rotated through the API; NULL for the operator CLI's keys. An audit fact
-- only: unlike user_id, it does not tie the key's life to that member.
ALTER TABLE api_keys ADD COLUMN created_by uuid REFERENCES users (id);
