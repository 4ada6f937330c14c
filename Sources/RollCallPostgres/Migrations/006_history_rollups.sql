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

-- One row: the transactions below rolled_before have been rolled up; the longest connection
-- among the rows rolled up (what bounds a search for the sessions open at a moment).
CREATE TABLE rollcall.rollup_progress (
    only_row       boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    rolled_before  xid8,
    rolled_at      timestamptz,
    longest_closed interval
);
INSERT INTO rollcall.rollup_progress DEFAULT VALUES;

-- Connections opened and closed in each UTC minute, of the rolled-up rows.
CREATE TABLE rollcall.minute_totals (
    minute timestamp PRIMARY KEY,
    opened bigint NOT NULL,
    closed bigint NOT NULL
);

-- Each (UTC day, user) with a rolled-up connection open at some moment of that day.
CREATE TABLE rollcall.user_days (
    day     date,
    user_id text,
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
        SELECT DISTINCT d.day::date AS day, c.user_id
        FROM closed c, generate_series(date_trunc('day', c.opened), date_trunc('day', c.closed), interval '1 day') AS d(day)
    ), new_pairs AS (
        -- The pairs known already are skipped on the index alone; a conflict check would read
        -- each one's row.
        INSERT INTO rollcall.user_days (day, user_id)
        SELECT p.day, p.user_id FROM pairs p
        WHERE NOT EXISTS (SELECT FROM rollcall.user_days u WHERE u.day = p.day AND u.user_id = p.user_id)
        ON CONFLICT (day, user_id) DO NOTHING
        RETURNING day
    ), days AS (
        INSERT INTO rollcall.day_totals AS t (day, active_users, connections_opened)
        SELECT day, sum(users), sum(opened)
        FROM (
            SELECT day, count(*) AS users, 0 AS opened FROM new_pairs GROUP BY day
            UNION ALL
            SELECT opened::date, 0, count(*) FROM closed GROUP BY 1
        ) AS per_day
        GROUP BY day
        ON CONFLICT (day) DO UPDATE SET
            active_users = t.active_users + excluded.active_users,
            connections_opened = t.connections_opened + excluded.connections_opened
    ), advanced AS (
        UPDATE rollcall.rollup_progress
        SET rolled_before = upto, rolled_at = now(),
            longest_closed = greatest(longest_closed, (SELECT max(closed - opened) FROM closed))
    )
    SELECT count(*) INTO rolled FROM closed;
    RETURN rolled;
END
$$;

-- Opens again the rows of `server` that an orphan purge closed while their sockets lived on (the
-- hub was cut off longer than the window); a row the rollups hold already is taken out of the
-- minute and day counts first (the views then count it from its row, as an open one). Its
-- user_days stay: the open row covers every day the closed one did (a purge ends a row at its
-- hub's last heartbeat, never after now). Returns the rows reopened.
CREATE FUNCTION rollcall.reopen_orphaned(ids uuid[], server text)
RETURNS TABLE (connection_id uuid, user_id text, user_agent text, created_at timestamptz) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM FROM rollcall.rollup_progress FOR UPDATE;
    WITH rolled AS (
        SELECT date_trunc('minute', c.created_at AT TIME ZONE 'UTC') AS opened, date_trunc('minute', c.disconnected_at AT TIME ZONE 'UTC') AS closed
        FROM rollcall.connections c, rollcall.rollup_progress p
        WHERE c.connection_id = ANY(ids) AND c.server_id = server AND NOT c.connected AND c.close_reason = 'orphaned'
          AND (c.closed_in IS NULL OR c.closed_in < p.rolled_before)
    ), minutes AS (
        UPDATE rollcall.minute_totals AS m SET opened = m.opened - changes.opened, closed = m.closed - changes.closed
        FROM (
            SELECT minute, sum(opened) AS opened, sum(closed) AS closed
            FROM (SELECT opened AS minute, 1 AS opened, 0 AS closed FROM rolled UNION ALL SELECT closed, 0, 1 FROM rolled) AS each
            GROUP BY minute
        ) AS changes
        WHERE m.minute = changes.minute
    )
    UPDATE rollcall.day_totals AS t SET connections_opened = t.connections_opened - changes.opened
    FROM (SELECT opened::date AS day, count(*) AS opened FROM rolled GROUP BY 1) AS changes
    WHERE t.day = changes.day;
    -- A minute with nothing left in it is no minute of the view's.
    DELETE FROM rollcall.minute_totals WHERE opened = 0 AND closed = 0;
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
-- A function so that the planner expects a few thousand rows (a view over a join with
-- rollup_progress would be guessed at a third of the table), planned afresh on each call.
CREATE FUNCTION rollcall.outside_rollups() RETURNS TABLE (user_id text, created_at timestamptz, disconnected_at timestamptz)
LANGUAGE plpgsql STABLE ROWS 5000 AS $$
BEGIN
    RETURN QUERY EXECUTE
        'SELECT user_id, created_at, disconnected_at FROM rollcall.connections WHERE connected
         UNION ALL
         SELECT user_id, created_at, disconnected_at FROM rollcall.connections WHERE NOT connected AND closed_in >= $1'
        USING (SELECT rolled_before FROM rollcall.rollup_progress);
END
$$;
CREATE VIEW rollcall.connections_outside_rollups AS SELECT * FROM rollcall.outside_rollups();

-- The (UTC day, user) pairs of the connections outside the rollups, and how many of them the user
-- opened that day. Its own function so that the planner expects a few thousand pairs rather than
-- a thousand days per connection (and compiles nothing for them).
CREATE FUNCTION rollcall.outside_days() RETURNS TABLE (day date, user_id text, opened bigint)
LANGUAGE sql STABLE ROWS 5000 SET jit = off AS $$
SELECT d.day::date, o.user_id, count(*) FILTER (WHERE d.day = date_trunc('day', o.opened))
FROM (
    SELECT user_id, created_at AT TIME ZONE 'UTC' AS opened, coalesce(disconnected_at, now()) AT TIME ZONE 'UTC' AS closed
    FROM rollcall.outside_rollups()
) AS o,
generate_series(date_trunc('day', o.opened), date_trunc('day', o.closed), interval '1 day') AS d(day)
GROUP BY 1, 2
$$;

-- Same columns and answers as before (003), from the rollups and the rows outside them.
CREATE OR REPLACE VIEW rollcall.daily_active_users AS
WITH outside AS (
    SELECT o.day,
           count(*) FILTER (WHERE NOT EXISTS (SELECT FROM rollcall.user_days u WHERE u.day = o.day AND u.user_id = o.user_id)) AS users,
           sum(o.opened)::bigint AS opened
    FROM rollcall.outside_days() AS o
    GROUP BY o.day
)
SELECT day,
       coalesce(t.active_users, 0) + coalesce(o.users, 0) AS active_users,
       coalesce(t.connections_opened, 0) + coalesce(o.opened, 0) AS connections_opened
FROM rollcall.day_totals t
FULL JOIN outside o USING (day);

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

-- The users with a connection open at `t`, and how many, exactly: open rows that began by then,
-- rows closed since the last pass, and rolled-up rows that began no longer before `t` than the
-- longest connection ever rolled up (on the created_at index, however long the history).
CREATE FUNCTION rollcall.online_at(t timestamptz) RETURNS TABLE (user_id text, connections bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    progress rollcall.rollup_progress;
BEGIN
    SELECT * INTO progress FROM rollcall.rollup_progress;
    RETURN QUERY EXECUTE
        'SELECT user_id, count(*) FROM (
             SELECT user_id FROM rollcall.connections WHERE connected AND created_at <= $1
             UNION ALL
             SELECT user_id FROM rollcall.connections
             WHERE NOT connected AND created_at <= $1 AND disconnected_at > $1 AND created_at >= $1 - $2
               AND (closed_in IS NULL OR closed_in < $3)
             UNION ALL
             SELECT user_id FROM rollcall.connections
             WHERE NOT connected AND closed_in >= $3 AND created_at <= $1 AND disconnected_at > $1
         ) AS open_then
         GROUP BY user_id'
        USING t, coalesce(progress.longest_closed, interval '0'), progress.rolled_before;
END
$$;

-- Analysts may read the rollups too (user_days answers "active users this week" exactly).
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'rollcall_analyst') THEN
        GRANT SELECT ON rollcall.minute_totals, rollcall.user_days, rollcall.day_totals, rollcall.rollup_progress,
            rollcall.connections_outside_rollups TO rollcall_analyst;
        GRANT EXECUTE ON FUNCTION rollcall.online_at(timestamptz) TO rollcall_analyst;
    END IF;
END
$$;

-- Everything closed so far, rolled up once, here.
SELECT rollcall.roll_up_history();
