ALTER TABLE users ADD COLUMN invited_by uuid;
