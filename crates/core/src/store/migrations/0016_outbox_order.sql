-- Sotto client profile, schema 16: the outbox keeps the order sends were made in.
--
-- Sends were taken by (created_ts, message_id): two made in the same millisecond (a scripted
-- burst, several receipts queued at once) went in the order of their random ids, so a
-- recipient could see them in another order than they were written in. `queued` numbers rows
-- as they are queued; rows queued before this have none and keep the old order among
-- themselves.
ALTER TABLE outbox ADD COLUMN queued INTEGER;
