-- flashline audit store, schema version 4: per-device provisioning and chain version 2.
--
-- serial:    the board's serial number as printed ([provision] serial format), NULL
--            when the station gives none or the attempt ended before it was allocated.
-- provision: JSON {"nvs":{"offset","size","sha256"}} of the per-device NVS partition
--            the attempt wrote (its SHA-256 over the whole partition), never the values
--            in it; NULL when none.
-- chain_version: 2 for rows completed by this version. Version 2 hashes the version 1
--            columns followed by serial and provision (crates/audit/src/chain.rs);
--            rows completed before this migration keep NULL here and verify as
--            version 1, unchanged.
--
-- serial_numbers: one number per MAC, for good. Allocated in the same transaction
-- that looks the MAC up, so two jobs (or two processes on this file) never get the
-- same number and a board flashed again keeps its own.
--   source 'local': taken from this file's own counter (no [central]);
--   source 'lease': taken from a block leased from the central record;
--   source 'central': a number the central record already held for this MAC.
-- serial_leases: blocks of numbers leased from the central record; next is the
-- next number this station hands out from the block (next = last + 1: used up).
--
-- Never edit this file once released; add a new numbered file instead.

ALTER TABLE attempts ADD COLUMN serial TEXT;
ALTER TABLE attempts ADD COLUMN provision TEXT;
ALTER TABLE attempts ADD COLUMN chain_version INTEGER;

CREATE INDEX idx_attempts_serial ON attempts (serial);

CREATE TABLE serial_numbers (
    mac             TEXT    PRIMARY KEY,           -- canonical 'AA:BB:CC:DD:EE:FF'
    number          INTEGER NOT NULL UNIQUE CHECK (number >= 0),
    source          TEXT    NOT NULL CHECK (source IN ('local', 'lease', 'central')),
    attempt_id      INTEGER REFERENCES attempts (id),  -- the attempt it was allocated for
    allocated_at_ms INTEGER NOT NULL
);

CREATE TABLE serial_leases (
    first           INTEGER NOT NULL PRIMARY KEY CHECK (first >= 0),
    last            INTEGER NOT NULL CHECK (last >= first),
    next            INTEGER NOT NULL CHECK (next >= first AND next <= last + 1),
    leased_at_ms    INTEGER NOT NULL
);
