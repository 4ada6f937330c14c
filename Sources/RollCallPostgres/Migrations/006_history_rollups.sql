-- The history's aggregate views read rollups the hubs keep instead of every row they ever wrote.
--
-- A pass (rollcall.roll_up_history(), run by the hubs after each orphan purge, under its lock)
-- adds the connections closed since the last pass to per-minute and per-day totals. "Since the
-- last pass" is exact: each close records its transaction (closed_in), and a pass takes the rows
-- closed by transactions older than every one still running (its snapshot's xmin), so a close
-- that commits late is taken by the next pass, never skipped, never taken twice. The views add
-- what the rollups do not hold yet (open connections, rows closed since the last pass) from the
-- rows themselves: a few thousand rows however long the history.
ALTER TABLE rollcall.connections ADD COLUMN closed_in xid8;
CREATE INDEX connections_closed_in ON rollcall.connections (closed_in) WHERE NOT connected;
-- The hubs' closes set closed_in themselves; any other way a row is closed (SQL by hand, an
-- import, a hub of an earlier version during an upgrade) gets it here, so no closed row is ever
-- outside both the rollups and the rows the views add to them.
CREATE FUNCTION rollcall.stamp_close() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.closed_in := pg_current_xact_id();
    RETURN NEW;
END
$$;
CREATE TRIGGER closed_rows_name_their_transaction BEFORE INSERT OR UPDATE ON rollcall.connections
FOR EACH ROW WHEN (NOT NEW.connected AND NEW.closed_in IS NULL) EXECUTE FUNCTION rollcall.stamp_close();

-- One row: the transactions below rolled_before have been rolled up.
CREATE TABLE rollcall.rollup_progress (
    only_row      boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    rolled_before xid8,
    rolled_at     timestamptz
);
INSERT INTO rollcall.rollup_progress DEFAULT VALUES;

-- Connections opened and closed in each UTC minute, of the rolled-up rows.
CREATE TABLE rollcall.minute_totals (
    minute timestamp PRIMARY KEY,
    opened bigint NOT NULL,
    closed bigint NOT NULL
);

-- Each (UTC day, user) with a rolled-up connection open at some moment of that day, and how many.
CREATE TABLE rollcall.user_days (
    day         date,
    user_id     text,
    connections integer NOT NULL CHECK (connections > 0),
    PRIMARY KEY (day, user_id)
);

-- Per UTC day: the users of user_days, and the rolled-up connections opened that day.
CREATE TABLE rollcall.day_totals (
    day                date PRIMARY KEY,
    active_users       bigint NOT NULL,
    connections_opened bigint NOT NULL
);

-- Adds the rows closed since the last pass to the rollups; returns how many. Idempotent: a pass
-- with nothing new to take adds nothing. `most` bounds one pass (about that many rows; all the
-- rows of one transaction go together), so a backlog is taken in several short transactions.
-- The first pass (below) takes every row closed before this migration (their closed_in is NULL).
CREATE FUNCTION rollcall.roll_up_history(most integer DEFAULT NULL) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    since xid8;
    upto xid8;
    cap xid8;
    rolled bigint;
BEGIN
    -- One pass at a time, and no reopen between what a pass reads and what it writes: the
    -- statements below take their snapshots once this lock is ours.
    SELECT rolled_before INTO since FROM rollcall.rollup_progress FOR UPDATE;
    -- Every transaction below this one has ended: the rows they closed are all visible now.
    upto := pg_snapshot_xmin(pg_current_snapshot());
    IF most IS NOT NULL AND since IS NOT NULL THEN
        -- Up to the transaction of the most-th row, that one included.
        SELECT closed_in INTO cap FROM rollcall.connections
        WHERE NOT connected AND closed_in >= since ORDER BY closed_in OFFSET greatest(most, 1) - 1 LIMIT 1;
        upto := least(upto, (cap::text::bigint + 1)::text::xid8);
    END IF;
    upto := greatest(upto, since);
    WITH closed AS (
        SELECT user_id, created_at AT TIME ZONE 'UTC' AS opened, disconnected_at AT TIME ZONE 'UTC' AS closed
        FROM rollcall.connections
        WHERE NOT connected AND closed_in >= coalesce(since, '0') AND closed_in < upto
        UNION ALL
        SELECT user_id, created_at AT TIME ZONE 'UTC', disconnected_at AT TIME ZONE 'UTC'
        FROM rollcall.connections
        WHERE since IS NULL AND NOT connected AND closed_in IS NULL
    ), minutes AS (
        INSERT INTO rollcall.minute_totals AS m (minute, opened, closed)
        SELECT minute, sum(opened), sum(closed)
        FROM (
            SELECT date_trunc('minute', opened) AS minute, 1 AS opened, 0 AS closed FROM closed
            UNION ALL
            SELECT date_trunc('minute', closed), 0, 1 FROM closed
        ) AS changes
        GROUP BY minute
        ON CONFLICT (minute) DO UPDATE SET opened = m.opened + excluded.opened, closed = m.closed + excluded.closed
    ), pairs AS (
        SELECT d.day::date AS day, c.user_id, count(*) AS connections
        FROM closed c, generate_series(date_trunc('day', c.opened), date_trunc('day', c.closed), interval '1 day') AS d(day)
        GROUP BY 1, 2
    ), new_users AS (
        SELECT p.day, count(*) AS users
        FROM pairs p
        WHERE NOT EXISTS (SELECT FROM rollcall.user_days u WHERE u.day = p.day AND u.user_id = p.user_id)
        GROUP BY p.day
    ), kept_pairs AS (
        INSERT INTO rollcall.user_days AS u (day, user_id, connections)
        SELECT day, user_id, connections FROM pairs
        ON CONFLICT (day, user_id) DO UPDATE SET connections = u.connections + excluded.connections
    ), days AS (
        INSERT INTO rollcall.day_totals AS t (day, active_users, connections_opened)
        SELECT day, sum(users), sum(opened)
        FROM (
            SELECT day, users, 0 AS opened FROM new_users
            UNION ALL
            SELECT opened::date, 0, count(*) FROM closed GROUP BY 1
        ) AS per_day
        GROUP BY day
        ON CONFLICT (day) DO UPDATE SET
            active_users = t.active_users + excluded.active_users,
            connections_opened = t.connections_opened + excluded.connections_opened
    ), advanced AS (
        UPDATE rollcall.rollup_progress SET rolled_before = upto, rolled_at = now()
    )
    SELECT count(*) INTO rolled FROM closed;
    RETURN rolled;
END
$$;

-- Opens again the rows of `server` that an orphan purge closed while their sockets lived on (the
-- hub was cut off longer than the window); a row the rollups hold already is taken out of them
-- first. Returns the rows reopened.
CREATE FUNCTION rollcall.reopen_orphaned(ids uuid[], server text)
RETURNS TABLE (connection_id uuid, user_id text, user_agent text, created_at timestamptz) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    r record;
    d date;
BEGIN
    PERFORM FROM rollcall.rollup_progress FOR UPDATE;
    FOR r IN
        SELECT c.user_id, c.created_at AT TIME ZONE 'UTC' AS opened, c.disconnected_at AT TIME ZONE 'UTC' AS closed
        FROM rollcall.connections c, rollcall.rollup_progress p
        WHERE c.connection_id = ANY(ids) AND c.server_id = server AND NOT c.connected AND c.close_reason = 'orphaned'
          AND (c.closed_in IS NULL OR c.closed_in < p.rolled_before)
    LOOP
        UPDATE rollcall.minute_totals SET opened = opened - 1 WHERE minute = date_trunc('minute', r.opened);
        UPDATE rollcall.minute_totals SET closed = closed - 1 WHERE minute = date_trunc('minute', r.closed);
        DELETE FROM rollcall.minute_totals
        WHERE minute IN (date_trunc('minute', r.opened), date_trunc('minute', r.closed)) AND opened = 0 AND closed = 0;
        UPDATE rollcall.day_totals SET connections_opened = connections_opened - 1 WHERE day = r.opened::date;
        FOR d IN SELECT g::date FROM generate_series(date_trunc('day', r.opened), date_trunc('day', r.closed), interval '1 day') AS g LOOP
            UPDATE rollcall.user_days SET connections = connections - 1 WHERE day = d AND user_id = r.user_id AND connections > 1;
            IF NOT FOUND THEN
                DELETE FROM rollcall.user_days WHERE day = d AND user_id = r.user_id;
                IF FOUND THEN
                    UPDATE rollcall.day_totals SET active_users = active_users - 1 WHERE day = d;
                END IF;
            END IF;
        END LOOP;
        DELETE FROM rollcall.day_totals
        WHERE day BETWEEN r.opened::date AND r.closed::date AND active_users = 0 AND connections_opened = 0;
    END LOOP;
    RETURN QUERY
    WITH reopened AS (
        UPDATE rollcall.connections AS c SET connected = true, disconnected_at = NULL, close_reason = NULL, closed_in = NULL
        WHERE c.connection_id = ANY(ids) AND c.server_id = server AND NOT c.connected AND c.close_reason = 'orphaned'
        RETURNING c.connection_id, c.user_id, c.user_agent, c.created_at
    )
    SELECT * FROM reopened;
END
$$;

-- Connections the rollups do not hold yet: the open ones, and those closed since the last pass.
CREATE VIEW rollcall.connections_outside_rollups AS
SELECT c.user_id, c.created_at, c.disconnected_at FROM rollcall.connections c WHERE c.connected
UNION ALL
SELECT c.user_id, c.created_at, c.disconnected_at
FROM rollcall.connections c, rollcall.rollup_progress p
WHERE NOT c.connected AND c.closed_in >= p.rolled_before;

-- Same columns and answers as before (003), from the rollups and the rows outside them.
CREATE OR REPLACE VIEW rollcall.daily_active_users AS
WITH outside AS (
    SELECT user_id, created_at AT TIME ZONE 'UTC' AS opened, coalesce(disconnected_at, now()) AT TIME ZONE 'UTC' AS closed
    FROM rollcall.connections_outside_rollups
), outside_pairs AS (
    SELECT DISTINCT d.day::date AS day, o.user_id
    FROM outside o, generate_series(date_trunc('day', o.opened), date_trunc('day', o.closed), interval '1 day') AS d(day)
), outside_users AS (
    SELECT p.day, count(*) AS users
    FROM outside_pairs p
    WHERE NOT EXISTS (SELECT FROM rollcall.user_days u WHERE u.day = p.day AND u.user_id = p.user_id)
    GROUP BY p.day
), outside_opened AS (
    SELECT opened::date AS day, count(*) AS opened FROM outside GROUP BY 1
)
SELECT day,
       coalesce(t.active_users, 0) + coalesce(u.users, 0) AS active_users,
       coalesce(t.connections_opened, 0) + coalesce(o.opened, 0) AS connections_opened
FROM rollcall.day_totals t
FULL JOIN outside_users u USING (day)
FULL JOIN outside_opened o USING (day);

CREATE OR REPLACE VIEW rollcall.concurrency_by_minute AS
SELECT minute,
       sum(opened) OVER running - sum(closed) OVER running + closed AS connections
FROM (
    SELECT minute, sum(opened) AS opened, sum(closed) AS closed
    FROM (
        SELECT minute, opened, closed FROM rollcall.minute_totals
        UNION ALL
        SELECT date_trunc('minute', created_at AT TIME ZONE 'UTC'), 1, 0 FROM rollcall.connections_outside_rollups
        UNION ALL
        SELECT date_trunc('minute', disconnected_at AT TIME ZONE 'UTC'), 0, 1
        FROM rollcall.connections_outside_rollups WHERE disconnected_at IS NOT NULL
    ) AS changes
    GROUP BY minute
) AS per_minute
WINDOW running AS (ORDER BY minute);

-- Analysts may read the rollups too (user_days answers "active users this week" exactly).
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'rollcall_analyst') THEN
        GRANT SELECT ON rollcall.minute_totals, rollcall.user_days, rollcall.day_totals, rollcall.rollup_progress,
            rollcall.connections_outside_rollups TO rollcall_analyst;
    END IF;
END
$$;

-- Everything closed so far, rolled up once, here.
SELECT rollcall.roll_up_history();
