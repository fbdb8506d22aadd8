-- flashline audit store, schema version 1.
--
-- One row per programming attempt. The row is inserted when the job starts
-- (result = 'running') and completed exactly once when it ends; a row left
-- 'running' by a daemon that died is closed as 'interrupted' on the next start.
--
-- Time is stored as INTEGER milliseconds since the Unix epoch, UTC
-- (`*_at_ms`). Integers compare and range-scan in index order without any
-- parsing, take 8 bytes instead of 24+, and cannot carry a time zone by
-- mistake. Renderers turn them into RFC 3339 text for people.
--
-- Never edit this file once released: the migration checksum is recorded in
-- every database it was applied to. Add a new numbered file instead.

CREATE TABLE attempts (
    id              INTEGER PRIMARY KEY,          -- AttemptId, rowid alias
    started_at_ms   INTEGER NOT NULL,
    ended_at_ms     INTEGER,                      -- NULL while running
    station_id      TEXT    NOT NULL,
    slot            TEXT    NOT NULL,             -- slot name from the station config, e.g. 'A2'
    port            TEXT    NOT NULL,             -- USB location or device node the board was on
    usb_vid         INTEGER,
    usb_pid         INTEGER,
    usb_serial      TEXT,
    -- Identity: known only after the identify stage, NULL before (or if it never got there).
    chip            TEXT,
    chip_revision   TEXT,
    mac             TEXT,                         -- canonical 'AA:BB:CC:DD:EE:FF'
    flash_id        INTEGER,                      -- JEDEC id as reported by the chip
    flash_size      INTEGER,                      -- bytes
    image_name      TEXT    NOT NULL,
    image_sha256    TEXT    NOT NULL,             -- lowercase hex, 64 chars
    result          TEXT    NOT NULL DEFAULT 'running'
                    CHECK (result IN ('running', 'pass', 'fail', 'interrupted')),
    failure_stage   TEXT,
    failure_reason  TEXT,
    bytes_written   INTEGER NOT NULL DEFAULT 0 CHECK (bytes_written >= 0),
    verify_method   TEXT,
    rework          INTEGER NOT NULL DEFAULT 0 CHECK (rework IN (0, 1)),
    rework_of       INTEGER REFERENCES attempts (id),  -- first (lowest id) other attempt with the same MAC
    -- JSON array of {"offset","length","reason"} objects; '[]' when none.
    skipped_regions TEXT    NOT NULL DEFAULT '[]',
    -- JSON object {"stage": milliseconds, ...} in the order the stages ran.
    -- A JSON column, not fixed columns: the stage list belongs to flashline-session
    -- and grows (stub, erase, write, verify, reset, efuse, ...), a new
    -- stage must not need a migration, and timings are read per row, not
    -- aggregated on a hot path. json_extract(stage_timings, '$.write') still
    -- works for ad-hoc analysis.
    stage_timings   TEXT    NOT NULL DEFAULT '{}',
    -- Hash chain, assigned in the same transaction that completes the row.
    -- seq orders completed rows by completion time (1, 2, 3, ... without gaps);
    -- row_hash = SHA-256 over the canonical encoding of the final fields and
    -- prev_hash (see crates/audit/src/chain.rs for the exact encoding).
    seq             INTEGER UNIQUE,
    prev_hash       TEXT,
    row_hash        TEXT,
    -- A running row is never in the chain; a completed row always is.
    CHECK ((result = 'running') = (seq IS NULL)),
    CHECK ((seq IS NULL) = (row_hash IS NULL) AND (seq IS NULL) = (prev_hash IS NULL)),
    CHECK ((result = 'running') = (ended_at_ms IS NULL))
);

-- "When was AA:BB:.. flashed?" and the rework lookup on identify.
CREATE INDEX idx_attempts_mac ON attempts (mac, started_at_ms);
-- Time-window listing and stats. slot and result are included so a day's
-- statistics are computed from this index alone, without touching the table.
CREATE INDEX idx_attempts_started ON attempts (started_at_ms, slot, result);
-- "Slot A2 today", "failures today", "still running" (interrupted recovery).
CREATE INDEX idx_attempts_slot_started ON attempts (slot, started_at_ms);
CREATE INDEX idx_attempts_result_started ON attempts (result, started_at_ms);
-- "Which boards got image X": by name, or by SHA-256 prefix (GLOB range scan).
CREATE INDEX idx_attempts_image_name ON attempts (image_name, started_at_ms);
CREATE INDEX idx_attempts_image_sha ON attempts (image_sha256);

-- The end of the hash chain, updated in the same transaction as every
-- completion. Without it, deleting the newest completed rows would leave a
-- shorter chain that still verifies.
CREATE TABLE chain_head (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq        INTEGER NOT NULL,
    last_hash       TEXT    NOT NULL,
    last_attempt_id INTEGER
);

INSERT INTO chain_head (id, last_seq, last_hash, last_attempt_id)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', NULL);
