-- Mail bodies are sealed under the application key ring while queued (an invitation or a
-- password reset carries a one-time link) and dropped once the mail is sent or expanded
-- into one mail per admin: the row keeps who was sent what kind of mail, and when.
ALTER TABLE outgoing_mail ADD COLUMN body_sealed text;
ALTER TABLE outgoing_mail ALTER COLUMN body DROP NOT NULL;
UPDATE outgoing_mail SET body = NULL WHERE status IN ('sent', 'expanded');
ALTER TABLE outgoing_mail ADD CONSTRAINT outgoing_mail_body_kept
    CHECK (status IN ('sent', 'expanded') OR body IS NOT NULL OR body_sealed IS NOT NULL);
