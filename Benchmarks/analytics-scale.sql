-- The rollup-backed questions at a history of any size (100 million rows by default): the day-,
-- minute- and week-level views and the length quantiles beyond ten million rows. Analytics.sql
-- has every question at ten million; this one loads more and asks only what reads the rollups.
-- Run: rollcall psql --data-dir DIR --log-level warning -f Benchmarks/analytics-scale.sql [-v rows=N]
-- (a throwaway data dir: it fills rollcall.connections with synthetic history; 100 M rows take
-- about 30 GB of disk).
\set ON_ERROR_STOP on
\if :{?rows}
\else
\set rows 100000000
\endif
\timing on
\echo 'loading' :rows 'closed sessions of 100 000 users over 30 days, plus 5 000 open ones'
TRUNCATE rollcall.connections;
SELECT rollcall.add_month_partitions(3, now() - interval '62 days');
INSERT INTO rollcall.connections (connection_id, user_id, server_id, user_agent, created_at, connected, disconnected_at, close_reason)
SELECT rollcall.new_connection_id(start), 'user-' || (i % 100000), 'hub-' || (i % 4),
       (ARRAY['Firefox', 'Chrome', 'Safari', 'Edge'])[1 + i % 4], start, false,
       start + (random() * 7200) * interval '1 second',
       (ARRAY['client_closed', 'timeout', 'client_closed', 'server_shutdown'])[1 + i % 4]
FROM (SELECT i, now() - interval '30 days' + (i::float8 / :rows) * interval '30 days' AS start
      FROM generate_series(1, :rows) AS i) AS s;
INSERT INTO rollcall.connections (connection_id, user_id, server_id, created_at)
SELECT rollcall.new_connection_id(t), 'user-' || i, 'hub-0', t
FROM (SELECT i, now() - (random() * 3600) * interval '1 second' AS t FROM generate_series(1, 5000) AS i) AS s;
ANALYZE rollcall.connections;
SELECT pg_size_pretty(pg_database_size(current_database())) AS database_size;

\echo 'first rollup pass: every closed row'
SELECT rollcall.roll_up_history();
ANALYZE rollcall.minute_totals;
ANALYZE rollcall.user_days;
ANALYZE rollcall.day_totals;

\echo 'rollup upkeep: 10 000 connections opened, then closed by one transaction, then one pass'
INSERT INTO rollcall.connections (connection_id, user_id, server_id, created_at)
SELECT rollcall.new_connection_id(t), 'user-' || (i * 7), 'hub-1', t
FROM (SELECT i, now() - (random() * 7200) * interval '1 second' AS t FROM generate_series(1, 10000) AS i) AS s;
UPDATE rollcall.connections SET connected = false, disconnected_at = now(), close_reason = 'client_closed'
WHERE connected AND server_id = 'hub-1';
SELECT rollcall.roll_up_history();

\echo 'each question twice: first as it comes, then again'
\echo 'daily active users, whole table'
SELECT count(*) FROM rollcall.daily_active_users;
SELECT count(*) FROM rollcall.daily_active_users;
\echo 'daily active users, last 7 days'
SELECT count(*) FROM rollcall.daily_active_users WHERE day >= current_date - 7;
SELECT count(*) FROM rollcall.daily_active_users WHERE day >= current_date - 7;
\echo 'peak concurrency per day, whole table'
SELECT count(*) FROM (SELECT minute::date, max(connections) FROM rollcall.concurrency_by_minute GROUP BY 1) AS q;
SELECT count(*) FROM (SELECT minute::date, max(connections) FROM rollcall.concurrency_by_minute GROUP BY 1) AS q;
\echo 'concurrency by minute, last hour'
SELECT count(*) FROM rollcall.concurrency_by_minute WHERE minute >= now() - interval '1 hour';
SELECT count(*) FROM rollcall.concurrency_by_minute WHERE minute >= now() - interval '1 hour';
\echo 'who was online at a given time: rollcall.online_at'
SELECT count(*) FROM rollcall.online_at(now() - interval '3 days');
SELECT count(*) FROM rollcall.online_at(now() - interval '3 days');
\echo 'sessions per user, last UTC week: rollcall.weekly_sessions'
SELECT count(*), sum(sessions) FROM rollcall.weekly_sessions WHERE week = date_trunc('week', now() AT TIME ZONE 'UTC')::date - 7;
SELECT count(*), sum(sessions) FROM rollcall.weekly_sessions WHERE week = date_trunc('week', now() AT TIME ZONE 'UTC')::date - 7;
\echo 'median session length by user agent, 30 UTC days: rollcall.session_length_quantile'
SELECT * FROM rollcall.session_length_quantile(0.5, (now() AT TIME ZONE 'UTC')::date - 30);
SELECT * FROM rollcall.session_length_quantile(0.5, (now() AT TIME ZONE 'UTC')::date - 30);
\echo 'why connections end, yesterday and today: rollcall.session_lengths'
SELECT close_reason, sum(sessions), sum(time_connected) / sum(sessions) FROM rollcall.session_lengths
WHERE day >= (now() AT TIME ZONE 'UTC')::date - 1 GROUP BY close_reason;
\echo 'open connections of one user (presence path)'
SELECT count(*) FROM rollcall.connections WHERE user_id = 'user-17' AND connected;
