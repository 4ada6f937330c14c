-- Analyst queries at ten million history rows.
-- Run: swift run rollcall psql --data-dir /tmp/rollcall-bench -f Benchmarks/analytics.sql
-- (a throwaway data dir: it fills rollcall.connections with synthetic history).
\set ON_ERROR_STOP on
\timing on
\set rows 10000000
\ir analytics-load.sql

\echo 'sessions per user, last 7 days'
SELECT count(*) FROM (
  SELECT user_id, count(*), sum(duration) FROM rollcall.sessions
  WHERE started_at >= now() - interval '7 days' GROUP BY user_id) AS q;

\echo 'one user, last week'
SELECT count(*), sum(duration) FROM rollcall.sessions WHERE user_id = 'user-4242' AND started_at >= now() - interval '7 days';

\echo 'median session length by user agent, 30 days'
SELECT user_agent, percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM duration))
FROM rollcall.sessions WHERE NOT open AND started_at >= now() - interval '30 days' GROUP BY user_agent;

\echo 'sessions per user, last UTC week, from the rollups: rollcall.weekly_sessions'
SELECT count(*), sum(sessions) FROM rollcall.weekly_sessions WHERE week = date_trunc('week', now() AT TIME ZONE 'UTC')::date - 7;
\echo 'median session length by user agent, 30 UTC days, from the rollups: rollcall.session_length_quantile'
SELECT * FROM rollcall.session_length_quantile(0.5, (now() AT TIME ZONE 'UTC')::date - 30);
\echo 'why connections end, yesterday and today, from the rollups: rollcall.session_lengths'
SELECT close_reason, sum(sessions), sum(time_connected) / sum(sessions) FROM rollcall.session_lengths
WHERE day >= (now() AT TIME ZONE 'UTC')::date - 1 GROUP BY close_reason;
\echo 'why connections end, last day, from every row'
SELECT close_reason, count(*), avg(duration) FROM rollcall.sessions
WHERE NOT open AND started_at >= now() - interval '1 day' GROUP BY close_reason;
\echo 'who was online at a given time, exact: rollcall.online_at'
SELECT count(*) FROM rollcall.online_at(now() - interval '3 days');

\echo 'who was online at a given time, exact (every session that began before it)'
SELECT count(DISTINCT user_id) FROM rollcall.sessions
WHERE started_at <= now() - interval '3 days'
  AND coalesce(ended_at, now()) > now() - interval '3 days';

\echo 'who was online at a given time, sessions known to last under a day'
SELECT count(DISTINCT user_id) FROM rollcall.sessions
WHERE started_at <= now() - interval '3 days' AND started_at > now() - interval '3 days' - interval '1 day'
  AND coalesce(ended_at, now()) > now() - interval '3 days';

\echo 'open connections of one user (presence path)'
SELECT count(*) FROM rollcall.connections WHERE user_id = 'user-17' AND connected;

\echo 'daily active users, whole table'
SELECT count(*) FROM rollcall.daily_active_users;

\echo 'peak concurrency per day, whole table'
SELECT count(*) FROM (SELECT minute::date, max(connections) FROM rollcall.concurrency_by_minute GROUP BY 1) AS q;

\echo 'before migration 006: daily active users from every row, whole table'
SELECT count(*) FROM (
  SELECT day::date, count(DISTINCT user_id), count(*) FILTER (WHERE opened_that_day)
  FROM (SELECT c.user_id, d.day, date_trunc('day', c.created_at AT TIME ZONE 'UTC') = d.day AS opened_that_day
        FROM rollcall.connections c,
             generate_series(date_trunc('day', c.created_at AT TIME ZONE 'UTC'),
                             date_trunc('day', coalesce(c.disconnected_at, now()) AT TIME ZONE 'UTC'), interval '1 day') AS d(day)) AS a
  GROUP BY day) AS q;

\echo 'before migration 006: peak concurrency per day from every row, whole table'
SELECT count(*) FROM (SELECT minute::date, max(connections) FROM (
  SELECT minute, sum(opened) OVER w - sum(closed) OVER w + closed AS connections
  FROM (SELECT minute, sum(opened) AS opened, sum(closed) AS closed
        FROM (SELECT date_trunc('minute', created_at AT TIME ZONE 'UTC') AS minute, 1 AS opened, 0 AS closed FROM rollcall.connections
              UNION ALL
              SELECT date_trunc('minute', disconnected_at AT TIME ZONE 'UTC'), 0, 1 FROM rollcall.connections WHERE disconnected_at IS NOT NULL) AS ch
        GROUP BY minute) AS pm
  WINDOW w AS (ORDER BY minute)) AS c GROUP BY 1) AS q;

\echo 'retention sweep query: 1 000 oldest closed rows past 29 days'
SELECT count(*) FROM (SELECT connection_id FROM rollcall.connections
  WHERE NOT connected AND disconnected_at < now() - interval '29 days'
    AND (closed_in IS NULL OR closed_in < (SELECT rolled_before FROM rollcall.rollup_progress)) LIMIT 1000) AS q;

\echo 'retention by month: the oldest five days of the load written again 60 days earlier, in a month of their own'
SELECT rollcall.add_month_partitions(0, now() - interval '90 days');
INSERT INTO rollcall.connections (connection_id, user_id, server_id, user_agent, created_at, connected, disconnected_at, close_reason)
SELECT rollcall.new_connection_id(created_at - interval '60 days'), user_id, server_id, user_agent, created_at - interval '60 days',
       false, disconnected_at - interval '60 days', close_reason
FROM rollcall.connections WHERE created_at < now() - interval '25 days' AND NOT connected;
SELECT rollcall.roll_up_history();
SELECT tableoid::regclass AS month, count(*) FROM rollcall.connections GROUP BY 1 ORDER BY 1;
\echo 'dropping it (rollcall.drop_expired_months, what the purge runs)'
SELECT rollcall.drop_expired_months(interval '30 days');
\echo 'rows deleted one by one instead (the per-row sweep, 1 000 a statement): 100 000 of them'
DO $$
BEGIN
    FOR i IN 1..100 LOOP
        DELETE FROM rollcall.connections WHERE connection_id IN (
            SELECT connection_id FROM rollcall.connections
            WHERE NOT connected AND disconnected_at < now() - interval '25 days' LIMIT 1000);
    END LOOP;
END
$$;
