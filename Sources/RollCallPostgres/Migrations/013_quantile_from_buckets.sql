-- A quantile sums the length histogram's sessions per user agent and bucket straight from the
-- rollup and the sessions outside it. It read them through `session_lengths` (011), which first
-- grouped them again by day, user agent, close reason and bucket, with their time connected,
-- only for the quantile to add those groups together: at ten million rows that grouping was
-- half the question's time, and spilled to disk under the default work_mem. Same rows, same
-- sums, same answer.
CREATE OR REPLACE FUNCTION rollcall.session_length_quantile(q float8, first_day date, last_day date DEFAULT 'infinity')
RETURNS TABLE (user_agent text, sessions bigint, bucket integer, at_least interval, below interval, length interval)
LANGUAGE sql STABLE AS $$
WITH buckets AS (
    SELECT each.user_agent, each.bucket, sum(each.sessions) AS n
    FROM (
        SELECT l.user_agent, l.bucket, l.sessions
        FROM rollcall.session_length_days l
        WHERE l.day BETWEEN first_day AND last_day
        UNION ALL
        SELECT o.user_agent, rollcall.length_bucket(o.ended_at - o.started_at), 1
        FROM rollcall.sessions_outside_rollups() o
        WHERE o.ended_at IS NOT NULL AND (o.started_at AT TIME ZONE 'UTC')::date BETWEEN first_day AND last_day
    ) AS each
    GROUP BY 1, 2
), running AS (
    SELECT b.user_agent, b.bucket,
           sum(b.n) OVER (PARTITION BY b.user_agent ORDER BY b.bucket) AS upto,
           sum(b.n) OVER (PARTITION BY b.user_agent) AS total
    FROM buckets b
)
SELECT DISTINCT ON (r.user_agent) r.user_agent, r.total::bigint, r.bucket,
       rollcall.bucket_length(r.bucket, 0), rollcall.bucket_length(r.bucket, 1), rollcall.bucket_length(r.bucket, 0.5)
FROM running r
WHERE r.upto >= q * r.total
ORDER BY r.user_agent, r.bucket
$$;
