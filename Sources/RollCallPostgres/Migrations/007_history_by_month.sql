-- The connection history in monthly partitions, so that retention drops a month at once instead
-- of deleting its rows one by one.
--
-- The partitions are ranges of connection_id: from this version on the hubs make version 7 UUIDs,
-- whose first 48 bits are the Unix time of their making in milliseconds, so the ids of a month are
-- one range and the primary key stays the id alone (no insert or close needs to name its month,
-- and ON CONFLICT (connection_id) still guards a retried batch). The table as it was becomes the
-- default partition: it keeps the rows written before this migration (random version 4 ids) and
-- would take a row whose id names a month that has no partition yet.
ALTER TABLE rollcall.connections RENAME TO connections_default;
ALTER INDEX rollcall.connections_pkey RENAME TO connections_default_pkey;
ALTER INDEX rollcall.connections_open_by_user RENAME TO connections_default_open_by_user;
ALTER INDEX rollcall.connections_open_by_server RENAME TO connections_default_open_by_server;
ALTER INDEX rollcall.connections_by_user_created RENAME TO connections_default_by_user_created;
ALTER INDEX rollcall.connections_closed_by_time RENAME TO connections_default_closed_by_time;
ALTER INDEX rollcall.connections_created_at RENAME TO connections_default_created_at;
ALTER INDEX rollcall.connections_closed_in RENAME TO connections_default_closed_in;
DROP TRIGGER closed_rows_name_their_transaction ON rollcall.connections_default;

CREATE TABLE rollcall.connections (LIKE rollcall.connections_default INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
PARTITION BY RANGE (connection_id);
ALTER TABLE rollcall.connections ADD PRIMARY KEY (connection_id);
-- The same indexes as before, on every partition (the default's own are attached, not rebuilt).
CREATE INDEX connections_open_by_user ON rollcall.connections (user_id) WHERE connected;
CREATE INDEX connections_open_by_server ON rollcall.connections (server_id) WHERE connected;
CREATE INDEX connections_by_user_created ON rollcall.connections (user_id, created_at DESC);
CREATE INDEX connections_closed_by_time ON rollcall.connections (disconnected_at) WHERE NOT connected;
CREATE INDEX connections_created_at ON rollcall.connections (created_at);
CREATE INDEX connections_closed_in ON rollcall.connections (closed_in) WHERE NOT connected;
CREATE TRIGGER closed_rows_name_their_transaction BEFORE INSERT OR UPDATE ON rollcall.connections
FOR EACH ROW WHEN (NOT NEW.connected AND NEW.closed_in IS NULL) EXECUTE FUNCTION rollcall.stamp_close();
ALTER TABLE rollcall.connections ATTACH PARTITION rollcall.connections_default DEFAULT;

-- A view names the table it was made on: sessions is made again on the partitioned one.
CREATE OR REPLACE VIEW rollcall.sessions AS
SELECT connection_id, user_id, server_id, user_agent, remote_addr,
       created_at AS started_at,
       disconnected_at AS ended_at,
       coalesce(disconnected_at, now()) - created_at AS duration,
       connected AS open,
       close_reason
FROM rollcall.connections;

-- The first id of the UTC month that begins at `month`: its Unix time in milliseconds, then zeros.
CREATE FUNCTION rollcall.first_id_of(month timestamp) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
SELECT (lpad(to_hex((extract(epoch FROM month) * 1000)::bigint), 12, '0') || repeat('0', 20))::uuid
$$;

-- A version 7 UUID made at `at`, as a hub makes a connection's id: for imports and benchmarks that
-- write rows themselves (PostgreSQL 15 has no uuidv7()).
CREATE FUNCTION rollcall.new_connection_id(at timestamptz DEFAULT clock_timestamp()) RETURNS uuid LANGUAGE sql VOLATILE AS $$
SELECT overlay(overlay(replace(gen_random_uuid()::text, '-', '')
                       PLACING lpad(to_hex(floor(extract(epoch FROM at) * 1000)::bigint), 12, '0') FROM 1 FOR 12)
               PLACING '7' FROM 13 FOR 1)::uuid
$$;

-- Makes the partitions of the UTC month of `starting` and the `ahead` months after it that do not
-- exist yet; returns their names. Rows of such a month that the default partition took (a hub whose
-- clock ran ahead, or a version 4 id that happens to fall in the range) move into it first.
-- Attaching scans the default partition while it holds it (and so the writers' statements) back:
-- a second or so at ten million rows written before this migration, once a month, nothing once
-- retention has taken them. As with drop_expired_months, a month whose locks are not had within the
-- caller's lock_timeout is left for the next call.
CREATE FUNCTION rollcall.add_month_partitions(ahead integer DEFAULT 2, starting timestamptz DEFAULT now())
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    month timestamp;
    name text;
    low uuid;
    high uuid;
BEGIN
    FOR i IN 0..ahead LOOP
        month := date_trunc('month', starting AT TIME ZONE 'UTC') + i * interval '1 month';
        name := 'connections_' || to_char(month, 'YYYY_MM');
        CONTINUE WHEN to_regclass('rollcall.' || name) IS NOT NULL;
        low := rollcall.first_id_of(month);
        high := rollcall.first_id_of(month + interval '1 month');
        BEGIN
            EXECUTE format('CREATE TABLE rollcall.%I (LIKE rollcall.connections INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
            EXECUTE format(
                'WITH moved AS (DELETE FROM rollcall.connections_default WHERE connection_id >= %L AND connection_id < %L RETURNING *)
                 INSERT INTO rollcall.%I SELECT * FROM moved', low, high, name);
            EXECUTE format('ALTER TABLE rollcall.connections ATTACH PARTITION rollcall.%I FOR VALUES FROM (%L) TO (%L)', name, low, high);
            RETURN NEXT name;
        EXCEPTION WHEN lock_not_available THEN
            RAISE NOTICE 'month % could not be added now: it is added by a later call', name;
        END;
    END LOOP;
END
$$;

-- Drops the month partitions whose every row closed more than `retention` ago and has been
-- rolled up (the views' totals keep them); returns their names. A month in which a connection is
-- still open, or closed within the retention, is kept whole until it is not (the per-row sweep
-- takes the rows past the retention meanwhile). Dropping a partition holds the whole table for a
-- moment: the hubs call this with a lock_timeout of a tenth of a second, and a month whose lock is
-- not had by then (an analyst's long query is reading it) is left for the next pass, so the
-- writers never queue behind the drop for longer.
CREATE FUNCTION rollcall.drop_expired_months(retention interval) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    name text;
    expired boolean;
BEGIN
    FOR name IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'rollcall.connections'::regclass AND c.relname ~ '^connections_[0-9]{4}_[0-9]{2}$'
          AND to_date(substr(c.relname, 13), 'YYYY_MM')::timestamp + interval '1 month' <= (now() - retention) AT TIME ZONE 'UTC'
        ORDER BY c.relname
    LOOP
        EXECUTE format(
            'SELECT NOT EXISTS (SELECT FROM rollcall.%1$I WHERE connected)
                AND NOT EXISTS (SELECT FROM rollcall.%1$I WHERE NOT connected AND disconnected_at >= now() - $1)
                AND NOT EXISTS (SELECT FROM rollcall.%1$I, rollcall.rollup_progress p
                                WHERE NOT connected AND (p.rolled_before IS NULL OR closed_in >= p.rolled_before))', name)
        INTO expired USING retention;
        CONTINUE WHEN NOT expired;
        BEGIN
            EXECUTE format('DROP TABLE rollcall.%I', name);
            RETURN NEXT name;
        EXCEPTION WHEN lock_not_available THEN
            RAISE NOTICE 'month % is being read: it is dropped by a later pass', name;
        END;
    END LOOP;
END
$$;

SELECT rollcall.add_month_partitions();

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'rollcall_analyst') THEN
        GRANT SELECT ON rollcall.connections TO rollcall_analyst;
    END IF;
END
$$;
