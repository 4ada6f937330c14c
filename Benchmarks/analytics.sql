-- Analyst queries at ten million history rows.
-- Run: swift run rollcall psql --data-dir /tmp/rollcall-bench -f Benchmarks/analytics.sql
-- (a throwaway data dir: it fills rollcall.connections with synthetic history).
\set ON_ERROR_STOP on
\timing on
\echo 'loading 10 000 000 closed sessions of 100 000 users over 30 days, plus 5 000 open ones'
TRUNCATE rollcall.connections;
INSERT INTO rollcall.connections (connection_id, user_id, server_id, user_agent, created_at, connected, disconnected_at, close_reason)
SELECT gen_random_uuid(),
       'user-' || (i % 100000),
       'hub-' || (i % 4),
       (ARRAY['Firefox', 'Chrome', 'Safari', 'Edge'])[1 + i % 4],
       start,
       false,
       start + (random() * 7200) * interval '1 second',
       (ARRAY['client_closed', 'timeout', 'client_closed', 'server_shutdown'])[1 + i % 4]
FROM (SELECT i, now() - interval '30 days' + (i::float8 / 10000000) * interval '30 days' AS start
      FROM generate_series(1, 10000000) AS i) AS s;
INSERT INTO rollcall.connections (connection_id, user_id, server_id, created_at)
SELECT gen_random_uuid(), 'user-' || i, 'hub-0', now() - (random() * 3600) * interval '1 second' FROM generate_series(1, 5000) AS i;
ANALYZE rollcall.connections;

\echo 'sessions per user, last 7 days'
SELECT count(*) FROM (
  SELECT user_id, count(*), sum(duration) FROM rollcall.sessions
  WHERE started_at >= now() - interval '7 days' GROUP BY user_id) AS q;

\echo 'one user, last week'
SELECT count(*), sum(duration) FROM rollcall.sessions WHERE user_id = 'user-4242' AND started_at >= now() - interval '7 days';

\echo 'median session length by user agent, 30 days'
SELECT user_agent, percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM duration))
FROM rollcall.sessions WHERE NOT open AND started_at >= now() - interval '30 days' GROUP BY user_agent;

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

\echo 'retention sweep query: 1 000 oldest closed rows past 29 days'
SELECT count(*) FROM (SELECT connection_id FROM rollcall.connections
  WHERE NOT connected AND disconnected_at < now() - interval '29 days' LIMIT 1000) AS q;
