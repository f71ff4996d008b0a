-- Who is invited to each group (a JSON array of user ids, as the verified log has it). An
-- invited user is not a member: this device lists a group it is invited to, and joins or
-- declines it.
ALTER TABLE groups ADD COLUMN invited TEXT NOT NULL DEFAULT '[]';
