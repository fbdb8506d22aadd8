-- flashline central audit record (PostgreSQL), schema version 2: what the write did to
-- each image region, as the station recorded it (local schema version 3).
--
-- The exact JSON text of the station's region_summary column: an array of
-- {"offset","length","written","erased","blank","identical"} objects, one per image
-- region of a completed attempt, '[]' when nothing was written and for rows forwarded
-- before this version. Not part of the hash chain, on the station or here: the same
-- facts travel, chained, in the reasons of skipped_regions. The insert trigger and the
-- row-level-security policies are unchanged (a station may insert this column of its
-- own rows, never update it).
--
-- Never edit this file once released; add a new numbered file instead.

ALTER TABLE attempts ADD COLUMN region_summary TEXT NOT NULL DEFAULT '[]';
