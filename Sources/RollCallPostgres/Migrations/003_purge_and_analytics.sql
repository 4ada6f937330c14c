-- When an orphan purge last closed this hub's rows. A hub that sees it change while it still
-- holds sockets was cut off longer than the window: it reopens those rows.
ALTER TABLE rollcall.servers ADD COLUMN purged_at timestamptz;

-- Analysts' questions are mostly time ranges: keep them on an index at 10 million rows.
CREATE INDEX connections_created_at ON rollcall.connections (created_at);

-- Who is online now.
CREATE VIEW rollcall.online_users AS
SELECT user_id, connections, online_since, now() - online_since AS online_for, last_seen_at, version
FROM rollcall.users
WHERE online;

-- Every connection with its length; an open one is measured up to now.
CREATE VIEW rollcall.sessions AS
SELECT connection_id, user_id, server_id, user_agent, remote_addr,
       created_at AS started_at,
       disconnected_at AS ended_at,
       coalesce(disconnected_at, now()) - created_at AS duration,
       connected AS open,
       close_reason
FROM rollcall.connections;

-- Users with at least one connection open at some moment of the day (UTC), and how many
-- connections were opened that day.
CREATE VIEW rollcall.daily_active_users AS
SELECT day::date AS day, count(DISTINCT user_id) AS active_users, count(*) FILTER (WHERE opened_that_day) AS connections_opened
FROM (
    SELECT c.user_id, d.day, date_trunc('day', c.created_at AT TIME ZONE 'UTC') = d.day AS opened_that_day
    FROM rollcall.connections c,
         generate_series(date_trunc('day', c.created_at AT TIME ZONE 'UTC'),
                         date_trunc('day', coalesce(c.disconnected_at, now()) AT TIME ZONE 'UTC'),
                         interval '1 day') AS d(day)
) AS activity
GROUP BY day;

-- For every minute (UTC) in which a connection opened or closed: the connections open at some
-- moment of that minute (those opened by its end, less those closed before it began).
CREATE VIEW rollcall.concurrency_by_minute AS
SELECT minute,
       sum(opened) OVER running - sum(closed) OVER running + closed AS connections
FROM (
    SELECT minute, sum(opened) AS opened, sum(closed) AS closed
    FROM (
        SELECT date_trunc('minute', created_at AT TIME ZONE 'UTC') AS minute, 1 AS opened, 0 AS closed FROM rollcall.connections
        UNION ALL
        SELECT date_trunc('minute', disconnected_at AT TIME ZONE 'UTC'), 0, 1 FROM rollcall.connections WHERE disconnected_at IS NOT NULL
    ) AS changes
    GROUP BY minute
) AS per_minute
WINDOW running AS (ORDER BY minute);
