-- A pass adds its sessions to the weekly rollup (011) with MERGE instead of INSERT … ON CONFLICT
-- DO UPDATE: a week the user already has is found by one probe of the key and updated in place,
-- where the upsert first tried an insert, then locked the row it collided with (a WAL record of
-- its own), then updated it. Same rows, same sums; only the statement changes. MERGE inserts
-- without a conflict check, which is safe here: every writer of the rollups (a pass, a reopen)
-- holds rollup_progress's row lock.
CREATE OR REPLACE FUNCTION rollcall.add_sessions(closed_rows text, sign integer, since xid8, upto xid8, ids uuid[] DEFAULT NULL, server text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($query$
        WITH closed AS MATERIALIZED (
            SELECT user_id, user_agent, close_reason, created_at AT TIME ZONE 'UTC' AS opened, disconnected_at - created_at AS length
            FROM rollcall.connections
            WHERE NOT connected AND (%s)
        ), lengths AS (
            INSERT INTO rollcall.session_length_days AS l (day, user_agent, close_reason, bucket, sessions, connected)
            SELECT opened::date, user_agent, close_reason, rollcall.length_bucket(length), $5 * count(*),
                   CASE WHEN $5 < 0 THEN -sum(length) ELSE sum(length) END
            FROM closed GROUP BY 1, 2, 3, 4
            ON CONFLICT ON CONSTRAINT session_length_days_key DO UPDATE
            SET sessions = l.sessions + excluded.sessions, connected = l.connected + excluded.connected
        )
        MERGE INTO rollcall.user_session_weeks AS w
        USING (
            SELECT date_trunc('week', opened)::date AS week, user_id, $5 * count(*) AS sessions,
                   CASE WHEN $5 < 0 THEN -sum(length) ELSE sum(length) END AS connected
            FROM closed GROUP BY 1, 2
        ) AS p
        ON w.week = p.week AND w.user_id = p.user_id
        WHEN MATCHED THEN UPDATE SET sessions = w.sessions + p.sessions, connected = w.connected + p.connected
        WHEN NOT MATCHED THEN INSERT (week, user_id, sessions, connected) VALUES (p.week, p.user_id, p.sessions, p.connected)
        $query$, closed_rows)
    USING since, upto, ids, server, sign;
    IF sign < 0 THEN
        DELETE FROM rollcall.user_session_weeks WHERE sessions = 0;
        DELETE FROM rollcall.session_length_days WHERE sessions = 0;
    END IF;
END
$$;
