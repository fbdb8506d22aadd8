-- flashline audit store, schema version 2: the stage a running attempt is in.
--
-- The daemon sets current_stage at every stage change of a job (one UPDATE per
-- change: connect, identify, stub, erase, write, verify, reset, ...). When a
-- daemon dies, the next start closes its rows left 'running' as 'interrupted'
-- with failure_stage = current_stage ("interrupted during write") instead of
-- 'unknown'.
--
-- Live progress only: completing a row (pass, fail, interrupted) sets it back to
-- NULL in the same UPDATE, so every completed row has current_stage NULL (the
-- CHECK holds the store to it) and what the stage means for the outcome is in
-- failure_stage.
--
-- Not part of the hash chain (chain version 1 is unchanged): a running row is not
-- in the chain, and a completed row has NULL here; the verifier ignores the column.
-- Rows of schema version 1 keep verifying unchanged.
--
-- Never edit this file once released; add a new numbered file instead.

ALTER TABLE attempts ADD COLUMN current_stage TEXT
    CHECK (current_stage IS NULL OR result = 'running');
