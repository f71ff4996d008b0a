-- Sotto client profile, schema 5: contacts this person marked as verified.
--
-- The safety number they compared (digits only); the contact counts as verified while it is
-- still the safety number, so any key change on either side ends it.
ALTER TABLE known_users ADD COLUMN verified TEXT;
