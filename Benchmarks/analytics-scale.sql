-- The rollup-backed questions at a history of any size (100 million rows by default): the day-,
-- minute- and week-level views and the length quantiles beyond ten million rows. Analytics.sql
-- has every question at ten million; this one loads more and asks only what reads the rollups.
-- Run: rollcall psql --data-dir DIR --log-level warning -f Benchmarks/analytics-scale.sql [-v rows=N]
-- (a throwaway data dir: it fills rollcall.connections with synthetic history; 30 M rows took
-- 7.9 GB of disk, so 100 M take about 26 GB).
\set ON_ERROR_STOP on
\if :{?rows}
\else
\set rows 100000000
\endif
\timing on
\ir analytics-load.sql

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
