-- flashline central audit record (PostgreSQL), schema version 1.
--
-- Every station keeps its own SQLite audit log and forwards each completed,
-- chained row here, in chain order. A row is stored exactly as the station
-- chained it: every hashed column with the value it was hashed with (integers
-- as BIGINT, text as TEXT, the JSON columns as the exact text), plus seq,
-- prev_hash and row_hash, so each station's chain verifies here with the same
-- code as on the station (crates/audit/src/chain.rs).
--
-- Stations log in with a role named after their station id, member of the
-- group role flashline_station (`flashline central add-station ID`). That group
-- may INSERT and SELECT its own rows only (row-level security on
-- station_id = current_user) and may never UPDATE or DELETE: a compromised
-- station PC cannot rewrite what this record already holds.
--
-- The trigger accept_chained_row keeps each station's chain whole: a new row
-- must continue the station's chain (seq = head + 1, prev_hash = head hash);
-- a row already held with the same hash is skipped (a resend after a lost
-- acknowledgement: exactly once); a row that contradicts the record (another
-- station using the same id, or a station whose local log was replaced) is
-- refused with SQLSTATE FL001.
--
-- Never edit this file once released; add a new numbered file instead.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'flashline_station') THEN
        CREATE ROLE flashline_station NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'flashline_reader') THEN
        CREATE ROLE flashline_reader NOLOGIN;
    END IF;
END
$$;

CREATE TABLE attempts (
    station_id      TEXT    NOT NULL,
    id              BIGINT  NOT NULL,             -- the station's own attempt id
    started_at_ms   BIGINT  NOT NULL,
    ended_at_ms     BIGINT  NOT NULL,
    slot            TEXT    NOT NULL,
    port            TEXT    NOT NULL,
    usb_vid         BIGINT,
    usb_pid         BIGINT,
    usb_serial      TEXT,
    chip            TEXT,
    chip_revision   TEXT,
    mac             TEXT,
    flash_id        BIGINT,
    flash_size      BIGINT,
    image_name      TEXT    NOT NULL,
    image_sha256    TEXT    NOT NULL,
    result          TEXT    NOT NULL CHECK (result IN ('pass', 'fail', 'interrupted')),
    failure_stage   TEXT,
    failure_reason  TEXT,
    bytes_written   BIGINT  NOT NULL,
    verify_method   TEXT,
    rework          BIGINT  NOT NULL,             -- as the station knew it (0/1)
    rework_of       BIGINT,                       -- the station's attempt id
    skipped_regions TEXT    NOT NULL,             -- the exact JSON text that was hashed
    stage_timings   TEXT    NOT NULL,             -- the exact JSON text that was hashed
    seq             BIGINT  NOT NULL CHECK (seq > 0),
    prev_hash       TEXT    NOT NULL,
    row_hash        TEXT    NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now(),  -- not hashed
    PRIMARY KEY (station_id, seq),
    UNIQUE (station_id, id)
);

CREATE INDEX idx_attempts_mac ON attempts (mac, started_at_ms);
CREATE INDEX idx_attempts_started ON attempts (started_at_ms, station_id, slot, result);
CREATE INDEX idx_attempts_image_name ON attempts (image_name, started_at_ms);
CREATE INDEX idx_attempts_image_sha ON attempts (image_sha256 text_pattern_ops);

-- The end of each station's chain as this record accepted it; written only by
-- the trigger. Deleting or re-hashing the newest rows of a station behind the
-- trigger's back shows against it in `flashline log verify`.
CREATE TABLE chain_heads (
    station_id      TEXT    PRIMARY KEY,
    last_seq        BIGINT  NOT NULL,
    last_hash       TEXT    NOT NULL,
    last_attempt_id BIGINT
);

CREATE FUNCTION accept_chained_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    head chain_heads%ROWTYPE;
    held TEXT;
BEGIN
    SELECT * INTO head FROM chain_heads WHERE station_id = NEW.station_id FOR UPDATE;
    IF NOT FOUND THEN
        head.last_seq := 0;
        head.last_hash := '0000000000000000000000000000000000000000000000000000000000000000';
    END IF;
    IF NEW.seq <= head.last_seq THEN
        SELECT row_hash INTO held FROM attempts WHERE station_id = NEW.station_id AND seq = NEW.seq;
        IF held IS NOT DISTINCT FROM NEW.row_hash THEN
            RETURN NULL;  -- already held: a resend, skipped
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'FL001',
            MESSAGE = format('station %s: seq %s is already recorded with another hash', NEW.station_id, NEW.seq),
            DETAIL = format('held %s, offered %s', held, NEW.row_hash);
    END IF;
    IF NEW.seq <> head.last_seq + 1 OR NEW.prev_hash <> head.last_hash THEN
        RAISE EXCEPTION USING ERRCODE = 'FL001',
            MESSAGE = format('station %s: seq %s does not continue the recorded chain (head seq %s)',
                             NEW.station_id, NEW.seq, head.last_seq),
            DETAIL = format('head hash %s, offered prev_hash %s', head.last_hash, NEW.prev_hash);
    END IF;
    INSERT INTO chain_heads (station_id, last_seq, last_hash, last_attempt_id)
    VALUES (NEW.station_id, NEW.seq, NEW.row_hash, NEW.id)
    ON CONFLICT (station_id) DO UPDATE
        SET last_seq = EXCLUDED.last_seq, last_hash = EXCLUDED.last_hash, last_attempt_id = EXCLUDED.last_attempt_id;
    NEW.received_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER attempts_accept BEFORE INSERT ON attempts
    FOR EACH ROW EXECUTE FUNCTION accept_chained_row();

-- Stations: insert and read their own rows, read their own head; nothing else.
REVOKE ALL ON attempts, chain_heads FROM PUBLIC;
REVOKE ALL ON FUNCTION accept_chained_row() FROM PUBLIC;
GRANT SELECT, INSERT ON attempts TO flashline_station;
GRANT SELECT ON chain_heads TO flashline_station;
GRANT SELECT ON attempts, chain_heads TO flashline_reader;

ALTER TABLE attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE chain_heads ENABLE ROW LEVEL SECURITY;

CREATE POLICY station_inserts_own ON attempts FOR INSERT TO flashline_station
    WITH CHECK (station_id = current_user);
CREATE POLICY station_reads_own ON attempts FOR SELECT TO flashline_station
    USING (station_id = current_user);
CREATE POLICY station_reads_own_head ON chain_heads FOR SELECT TO flashline_station
    USING (station_id = current_user);
CREATE POLICY reader_reads_all ON attempts FOR SELECT TO flashline_reader USING (true);
CREATE POLICY reader_reads_all_heads ON chain_heads FOR SELECT TO flashline_reader USING (true);
