-- The questions asked of sessions over weeks and months answer from rollups too: sessions and
-- time connected per user and week, and per day, user agent and close reason a histogram of
-- session lengths (for medians and other quantiles). Kept by the same passes as the minute and
-- day totals (006), over the same rows and under the same lock, so with the same exactness: the
-- views add what the rollups do not hold yet from the rows themselves.

-- Each (UTC week, user): the rolled-up sessions that began that week, and their time in all.
CREATE TABLE rollcall.user_session_weeks (
    week      date,
    user_id   text,
    sessions  bigint NOT NULL,
    connected interval NOT NULL,
    PRIMARY KEY (week, user_id)
) WITH (fillfactor = 70);
-- (Room on each page, so that a pass's update of a user's week is a HOT update: at 10 M rows,
-- a third off the pass's cost for this table.)

-- Which of the histogram's buckets a session's length falls in: 0 below a millisecond, then
-- bucket b holds lengths from 1.02^(b-1) up to 1.02^b milliseconds. Each bucket is 2 % wide, so
-- its middle is within 1 % of every length in it; about 1,100 buckets cover a millisecond to a
-- month. In float8: the logarithm of a numeric costs 5 µs a row.
CREATE FUNCTION rollcall.length_bucket(length interval) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN length < interval '1 millisecond' THEN 0
            ELSE 1 + floor(ln(extract(epoch FROM length)::float8 * 1000) / ln(1.02))::integer END
$$;
-- Where a bucket begins (`edge` 0) and ends (`edge` 1), and its geometric middle (`edge` 0.5).
CREATE FUNCTION rollcall.bucket_length(bucket integer, edge float8) RETURNS interval LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN bucket <= 0 THEN edge * interval '1 millisecond'
            ELSE power(1.02, bucket - 1 + edge) * interval '1 millisecond' END
$$;

-- Each (UTC day a session began, user agent, close reason, length bucket): how many rolled-up
-- sessions, and their time in all. A null user agent or reason is a value of its own here.
CREATE TABLE rollcall.session_length_days (
    day          date NOT NULL,
    user_agent   text,
    close_reason text,
    bucket       integer NOT NULL,
    sessions     bigint NOT NULL,
    connected    interval NOT NULL,
    CONSTRAINT session_length_days_key UNIQUE NULLS NOT DISTINCT (day, user_agent, close_reason, bucket)
);

-- Adds the closed rows that `closed_rows` selects (a condition on rollcall.connections, with $1
-- to $4 the arguments after it) to the two rollups above, or takes them out with `sign` -1.
-- The condition is the caller's own text, never a user's: a pass selects by transaction, a
-- reopen by id, each planned for its own values.
CREATE FUNCTION rollcall.add_sessions(closed_rows text, sign integer, since xid8, upto xid8, ids uuid[] DEFAULT NULL, server text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($query$
        WITH closed AS MATERIALIZED (
            SELECT user_id, user_agent, close_reason, created_at AT TIME ZONE 'UTC' AS opened, disconnected_at - created_at AS length
            FROM rollcall.connections
            WHERE NOT connected AND (%s)
        ), weeks AS (
            INSERT INTO rollcall.user_session_weeks AS w (week, user_id, sessions, connected)
            SELECT date_trunc('week', opened)::date, user_id, $5 * count(*), CASE WHEN $5 < 0 THEN -sum(length) ELSE sum(length) END
            FROM closed GROUP BY 1, 2
            ON CONFLICT (week, user_id) DO UPDATE
            SET sessions = w.sessions + excluded.sessions, connected = w.connected + excluded.connected
        )
        INSERT INTO rollcall.session_length_days AS l (day, user_agent, close_reason, bucket, sessions, connected)
        SELECT opened::date, user_agent, close_reason, rollcall.length_bucket(length), $5 * count(*),
               CASE WHEN $5 < 0 THEN -sum(length) ELSE sum(length) END
        FROM closed GROUP BY 1, 2, 3, 4
        ON CONFLICT ON CONSTRAINT session_length_days_key DO UPDATE
        SET sessions = l.sessions + excluded.sessions, connected = l.connected + excluded.connected
        $query$, closed_rows)
    USING since, upto, ids, server, sign;
    IF sign < 0 THEN
        DELETE FROM rollcall.user_session_weeks WHERE sessions = 0;
        DELETE FROM rollcall.session_length_days WHERE sessions = 0;
    END IF;
END
$$;

-- A pass adds to the new rollups exactly the rows it adds to the minute and day totals: those
-- closed by transactions from the last pass's bound (read under the lock the pass keeps) to the
-- bound it leaves. No reopen can come between (it waits for the same lock), and no retention
-- sweep deletes rows the bound it reads has not passed.
ALTER FUNCTION rollcall.roll_up_history(integer) RENAME TO roll_up_totals;
CREATE FUNCTION rollcall.roll_up_history(most integer DEFAULT NULL) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    since xid8;
    upto xid8;
    rolled bigint;
BEGIN
    SELECT rolled_before INTO since FROM rollcall.rollup_progress FOR UPDATE;
    rolled := rollcall.roll_up_totals(most);
    SELECT rolled_before INTO upto FROM rollcall.rollup_progress;
    IF since IS NULL THEN
        PERFORM rollcall.add_sessions('closed_in IS NULL OR closed_in < $2', 1, since, upto);
    ELSIF upto > since THEN
        PERFORM rollcall.add_sessions('closed_in >= $1 AND closed_in < $2', 1, since, upto);
    END IF;
    RETURN rolled;
END
$$;

-- A reopen takes the rolled-up rows it opens again out of the new rollups too, before they open.
ALTER FUNCTION rollcall.reopen_orphaned(uuid[], text) RENAME TO reopen_orphaned_totals;
CREATE FUNCTION rollcall.reopen_orphaned(ids uuid[], server text)
RETURNS TABLE (connection_id uuid, user_id text, user_agent text, created_at timestamptz) LANGUAGE plpgsql AS $$
DECLARE
    upto xid8;
BEGIN
    SELECT rolled_before INTO upto FROM rollcall.rollup_progress FOR UPDATE;
    PERFORM rollcall.add_sessions(
        'connection_id = ANY($3) AND server_id = $4 AND close_reason = ''orphaned'' AND (closed_in IS NULL OR closed_in < $2)',
        -1, NULL, upto, ids, server);
    RETURN QUERY SELECT * FROM rollcall.reopen_orphaned_totals(ids, server);
END
$$;

-- What the rollups hold already, added now: every row the passes before this migration took.
DO $$
DECLARE
    upto xid8;
BEGIN
    SELECT rolled_before INTO upto FROM rollcall.rollup_progress FOR UPDATE;
    IF upto IS NOT NULL THEN
        PERFORM rollcall.add_sessions('closed_in IS NULL OR closed_in < $2', 1, NULL, upto);
    END IF;
END
$$;
ANALYZE rollcall.user_session_weeks;
ANALYZE rollcall.session_length_days;

-- Sessions the rollups do not hold yet: the open ones, and those closed since the last pass.
-- A function for the reason outside_rollups is one (006): planned afresh, a few thousand rows.
CREATE FUNCTION rollcall.sessions_outside_rollups()
RETURNS TABLE (user_id text, user_agent text, close_reason text, started_at timestamptz, ended_at timestamptz)
LANGUAGE plpgsql STABLE ROWS 5000 AS $$
BEGIN
    RETURN QUERY EXECUTE
        'SELECT user_id, user_agent, close_reason, created_at, disconnected_at FROM rollcall.connections WHERE connected
         UNION ALL
         SELECT user_id, user_agent, close_reason, created_at, disconnected_at FROM rollcall.connections
         WHERE NOT connected AND closed_in >= $1'
        USING (SELECT rolled_before FROM rollcall.rollup_progress);
END
$$;
-- 006's function for the same rows reads them through this one: one place says which rows the
-- rollups do not hold.
CREATE OR REPLACE FUNCTION rollcall.outside_rollups() RETURNS TABLE (user_id text, created_at timestamptz, disconnected_at timestamptz)
LANGUAGE sql STABLE ROWS 5000 AS $$
SELECT user_id, started_at, ended_at FROM rollcall.sessions_outside_rollups()
$$;

-- Per UTC week (its Monday) and user: the sessions that began that week, open ones included,
-- and their time connected (an open one's until now), as `sessions` would count them. Each
-- rolled-up week is joined to the few sessions outside the rollups rather than grouped again
-- with them: a week of 100,000 users is read, not aggregated (55 ms against 145 at 10 M rows).
CREATE VIEW rollcall.weekly_sessions AS
WITH outside AS MATERIALIZED (
    SELECT date_trunc('week', started_at AT TIME ZONE 'UTC')::date AS week, user_id, count(*) AS sessions,
           sum(coalesce(ended_at, now()) - started_at) AS connected
    FROM rollcall.sessions_outside_rollups()
    GROUP BY 1, 2
)
SELECT w.week, w.user_id, w.sessions + coalesce(o.sessions, 0) AS sessions,
       w.connected + coalesce(o.connected, interval '0') AS time_connected
FROM rollcall.user_session_weeks w
LEFT JOIN outside o ON o.week = w.week AND o.user_id = w.user_id
UNION ALL
SELECT o.week, o.user_id, o.sessions, o.connected
FROM outside o
WHERE NOT EXISTS (SELECT FROM rollcall.user_session_weeks w WHERE w.week = o.week AND w.user_id = o.user_id);

-- Closed sessions per UTC day they began, user agent, close reason and length bucket: how many,
-- their time in all, and the bucket's bounds (at_least <= length < below).
CREATE VIEW rollcall.session_lengths AS
SELECT day, user_agent, close_reason, bucket,
       rollcall.bucket_length(bucket, 0) AS at_least, rollcall.bucket_length(bucket, 1) AS below,
       sum(sessions)::bigint AS sessions, sum(connected) AS time_connected
FROM (
    SELECT day, user_agent, close_reason, bucket, sessions, connected FROM rollcall.session_length_days
    UNION ALL
    SELECT (started_at AT TIME ZONE 'UTC')::date, user_agent, close_reason, rollcall.length_bucket(ended_at - started_at), 1,
           ended_at - started_at
    FROM rollcall.sessions_outside_rollups()
    WHERE ended_at IS NOT NULL
) AS each
GROUP BY day, user_agent, close_reason, bucket;

-- The q-quantile (0.5: the median) of the lengths of the closed sessions that began from
-- first_day to last_day (UTC), per user agent: the bucket that holds what
-- `percentile_disc(q) WITHIN GROUP (ORDER BY duration)` over those sessions answers, and its
-- middle, within 1 % of that answer.
CREATE FUNCTION rollcall.session_length_quantile(q float8, first_day date, last_day date DEFAULT 'infinity')
RETURNS TABLE (user_agent text, sessions bigint, bucket integer, at_least interval, below interval, length interval)
LANGUAGE sql STABLE AS $$
WITH buckets AS (
    SELECT s.user_agent, s.bucket, sum(s.sessions) AS n
    FROM rollcall.session_lengths s
    WHERE s.day BETWEEN first_day AND last_day
    GROUP BY 1, 2
), running AS (
    SELECT user_agent, bucket,
           sum(n) OVER (PARTITION BY user_agent ORDER BY bucket) AS upto,
           sum(n) OVER (PARTITION BY user_agent) AS total
    FROM buckets
)
SELECT DISTINCT ON (user_agent) user_agent, total::bigint, bucket,
       rollcall.bucket_length(bucket, 0), rollcall.bucket_length(bucket, 1), rollcall.bucket_length(bucket, 0.5)
FROM running
WHERE upto >= q * total
ORDER BY user_agent, bucket
$$;

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'rollcall_analyst') THEN
        GRANT SELECT ON rollcall.user_session_weeks, rollcall.session_length_days, rollcall.weekly_sessions,
            rollcall.session_lengths TO rollcall_analyst;
        GRANT EXECUTE ON FUNCTION rollcall.session_length_quantile(float8, date, date), rollcall.length_bucket(interval),
            rollcall.bucket_length(integer, float8), rollcall.sessions_outside_rollups() TO rollcall_analyst;
    END IF;
END
$$;
