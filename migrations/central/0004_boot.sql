-- flashline central audit record (PostgreSQL), schema version 4: the post-flash boot
-- check, the station's `boot` column (the JSON text it was recorded with; NULL when no
-- boot check ran). Stations forward it with the row's other columns.
--
-- Never edit this file once released; add a new numbered file instead.

ALTER TABLE attempts ADD COLUMN boot TEXT;
