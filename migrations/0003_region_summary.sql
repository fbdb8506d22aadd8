-- flashline audit store, schema version 3: what the write did to each image region.
--
-- JSON array of {"offset","length","written","erased","blank","identical"} objects,
-- one per image region of a completed attempt, in address order; '[]' when nothing
-- was written (failed before the write, or rows of older versions). The four byte
-- counts say how much of the region was written, erased without being written (0xFF
-- in the image, something else on the board), left alone because image and board
-- were both 0xFF, and left alone because the board already held the image's bytes.
--
-- Not part of the hash chain (chain version 1 is unchanged, like current_stage): the
-- same facts travel, chained, in the reasons of skipped_regions. Rows of earlier
-- schema versions keep verifying unchanged.
--
-- Never edit this file once released; add a new numbered file instead.

ALTER TABLE attempts ADD COLUMN region_summary TEXT NOT NULL DEFAULT '[]';
