-- Signing secrets sealed under the application key ring (AES-256-GCM, resonanz.shared.crypto),
-- each to its column and row: `v1:<key id>:<nonce+ciphertext>`. SQL cannot seal (the key is
-- not in the database): the dispatcher seals what is left in `secret` and `previous_secret`
-- at start and hourly, nulling them; a later release drops the plaintext columns.
ALTER TABLE subscriptions ADD COLUMN secret_sealed text;
ALTER TABLE subscriptions ADD COLUMN previous_secret_sealed text;
ALTER TABLE subscriptions ALTER COLUMN secret DROP NOT NULL;
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_secret_kept
    CHECK (secret IS NOT NULL OR secret_sealed IS NOT NULL);
-- Finds the rows still to seal without reading the table.
CREATE INDEX subscriptions_plaintext_secret ON subscriptions (id)
    WHERE secret IS NOT NULL OR previous_secret IS NOT NULL;
