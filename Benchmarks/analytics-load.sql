-- The history both analytics scripts ask their questions of: `:rows` closed sessions of 100,000
-- users over the last 30 days and 5,000 open ones, the first rollup pass over all of them, then
-- one more pass over 10,000 connections closed at once (the upkeep a pass costs).
-- Included by analytics.sql and analytics-scale.sql (\ir), which set `rows`.
\echo 'loading' :rows 'closed sessions of 100 000 users over 30 days, plus 5 000 open ones'
TRUNCATE rollcall.connections;
-- The months of the last 62 days have their partitions (the hubs make each ahead of its time).
SELECT rollcall.add_month_partitions(3, now() - interval '62 days');
INSERT INTO rollcall.connections (connection_id, user_id, server_id, user_agent, created_at, connected, disconnected_at, close_reason)
SELECT rollcall.new_connection_id(start),
       'user-' || (i % 100000),
       'hub-' || (i % 4),
       (ARRAY['Firefox', 'Chrome', 'Safari', 'Edge'])[1 + i % 4],
       start,
       false,
       start + (random() * 7200) * interval '1 second',
       (ARRAY['client_closed', 'timeout', 'client_closed', 'server_shutdown'])[1 + i % 4]
FROM (SELECT i, now() - interval '30 days' + (i::float8 / :rows) * interval '30 days' AS start
      FROM generate_series(1, :rows) AS i) AS s;
INSERT INTO rollcall.connections (connection_id, user_id, server_id, created_at)
SELECT rollcall.new_connection_id(t), 'user-' || i, 'hub-0', t
FROM (SELECT i, now() - (random() * 3600) * interval '1 second' AS t FROM generate_series(1, 5000) AS i) AS s;
ANALYZE rollcall.connections;
SELECT pg_size_pretty(pg_database_size(current_database())) AS database_size;

\echo 'first rollup pass: every closed row (what migrations 006 and 011 do on a filled database)'
SELECT rollcall.roll_up_history();
ANALYZE rollcall.minute_totals;
ANALYZE rollcall.user_days;
ANALYZE rollcall.day_totals;
ANALYZE rollcall.user_session_weeks;
ANALYZE rollcall.session_length_days;

\echo 'rollup upkeep: 10 000 connections opened, then closed by one transaction, then one pass'
INSERT INTO rollcall.connections (connection_id, user_id, server_id, created_at)
SELECT rollcall.new_connection_id(t), 'user-' || (i * 7), 'hub-1', t
FROM (SELECT i, now() - (random() * 7200) * interval '1 second' AS t FROM generate_series(1, 10000) AS i) AS s;
UPDATE rollcall.connections SET connected = false, disconnected_at = now(), close_reason = 'client_closed'
WHERE connected AND server_id = 'hub-1';
SELECT rollcall.roll_up_history();
