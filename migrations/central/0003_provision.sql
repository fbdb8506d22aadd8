-- flashline central audit record (PostgreSQL), schema version 3: per-device
-- provisioning, chain version 2, and the line's serial numbers.
--
-- attempts gains the chain version 2 columns exactly as the stations hash them
-- (crates/audit/src/chain.rs): chain_version (BIGINT, NULL on version 1 rows),
-- serial (TEXT, as printed) and provision (TEXT, the JSON with the NVS offset,
-- size and SHA-256). Rows forwarded before this migration keep NULL and verify as
-- version 1.
--
-- Serial numbers of the line: the central record hands out blocks of numbers
-- (lease_serials), each number to one station only; a station allocates from its
-- blocks in its own log, so it keeps flashing while this server is down. Each
-- MAC's number is claimed here (claim_serial) so a board moved to another station
-- keeps it; the first claim of a MAC wins. The counter starts at the first
-- start a station asks with and never goes back; a larger start skips ahead.
-- Gaps: numbers of a block a station never used (retired station, replaced log).
--
-- Stations call the two functions (SECURITY DEFINER; the station is
-- session_user: a SECURITY DEFINER function runs as its owner) and read the MAC
-- table; they never write the tables directly.
--
-- Never edit this file once released; add a new numbered file instead.

ALTER TABLE attempts ADD COLUMN chain_version BIGINT;
ALTER TABLE attempts ADD COLUMN serial TEXT;
ALTER TABLE attempts ADD COLUMN provision TEXT;
CREATE INDEX idx_attempts_serial ON attempts (serial);

CREATE TABLE serial_counter (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    next BIGINT  NOT NULL CHECK (next >= 0)
);

CREATE TABLE serial_blocks (
    first      BIGINT      PRIMARY KEY,
    last       BIGINT      NOT NULL CHECK (last >= first),
    station_id TEXT        NOT NULL,
    leased_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE serial_numbers (
    mac        TEXT        PRIMARY KEY,
    number     BIGINT      NOT NULL UNIQUE,
    station_id TEXT        NOT NULL,
    claimed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The next block of `count` numbers, from at least `start`, for the calling station.
CREATE FUNCTION lease_serials(start BIGINT, count BIGINT) RETURNS TABLE (first BIGINT, last BIGINT)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    f BIGINT;
BEGIN
    IF count < 1 OR count > 1000000 OR start < 0 THEN
        RAISE EXCEPTION 'lease_serials: count must be 1..1000000 and start >= 0';
    END IF;
    INSERT INTO serial_counter (id, next) VALUES (1, start) ON CONFLICT (id) DO NOTHING;
    UPDATE serial_counter SET next = GREATEST(next, start) + count WHERE id = 1
        RETURNING next - count INTO f;
    INSERT INTO serial_blocks (first, last, station_id) VALUES (f, f + count - 1, session_user);
    RETURN QUERY SELECT f, f + count - 1;
END
$$;

-- Records that `mac` has `number` (allocated by the calling station); returns the
-- number the MAC has here: `number`, or the one claimed first.
CREATE FUNCTION claim_serial(mac_in TEXT, number_in BIGINT) RETURNS BIGINT
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    held BIGINT;
BEGIN
    INSERT INTO serial_numbers (mac, number, station_id) VALUES (mac_in, number_in, session_user)
        ON CONFLICT (mac) DO NOTHING;
    SELECT number INTO held FROM serial_numbers WHERE mac = mac_in;
    RETURN held;
END
$$;

REVOKE ALL ON serial_counter, serial_blocks, serial_numbers FROM PUBLIC;
REVOKE ALL ON FUNCTION lease_serials(BIGINT, BIGINT), claim_serial(TEXT, BIGINT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lease_serials(BIGINT, BIGINT), claim_serial(TEXT, BIGINT) TO flashline_station;
GRANT SELECT ON serial_numbers TO flashline_station, flashline_reader;
GRANT SELECT ON serial_blocks TO flashline_reader;
