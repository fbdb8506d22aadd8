-- flashline audit store, schema version 5: the post-flash boot check.
--
-- JSON object {"result","ms_to_pattern","reason","lines"} of an attempt whose station
-- has a [boot] section: "pass" or "fail", the milliseconds from the final reset to the
-- configured pattern (a pass), why it failed ("boot loop", "pattern not seen in 10 s",
-- the fail_pattern line), and the last console lines as the board printed them
-- (escaped wherever they are shown). NULL when no boot check ran (no [boot], or the
-- attempt failed before its final reset).
--
-- Hashed in chain version 2 (the last of its columns, after serial and provision);
-- rows of chain version 1 keep verifying unchanged.
--
-- Never edit this file once released; add a new numbered file instead.

ALTER TABLE attempts ADD COLUMN boot TEXT;
