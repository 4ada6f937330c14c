-- A registry batch's rows and counters in one call, so that a hub's transaction is BEGIN, this,
-- its NOTIFYs and COMMIT: four round trips where separate statements took eight. It does what
-- the statements did, in the same order: the opens, the closes, the closes of every open row of
-- a hub (after the batch's own closes, whose reasons win), each user's count locked (in user_id
-- order, so concurrent hubs cannot deadlock) and moved, then the batch's due graces. The hub
-- reads the arrays it returns and decides the presence events itself.
--
--   p_server_closes / p_server_close_reasons: hubs whose open rows all close, and why;
--     server_closed says how many rows each closed;
--   p_more_users / p_more_deltas: counts already changed by statements run before this call in
--     the same transaction (reopened rows, a purge);
--   p_all_at_once: no offline grace, a user whose count reaches zero goes offline now;
--   p_at_once: users who go offline now whatever the grace (their rows closed by a purge);
--   p_grace_due: users whose grace ran out on the hub's clock, finished if still due here.
CREATE FUNCTION rollcall.apply_batch(
    p_server text,
    p_open_ids uuid[], p_open_users text[], p_open_agents text[], p_open_addresses text[],
    p_close_ids uuid[], p_close_reasons text[],
    p_server_closes text[], p_server_close_reasons text[],
    p_more_users text[], p_more_deltas integer[],
    p_all_at_once boolean, p_at_once text[],
    p_grace_ms bigint, p_grace_due text[],
    -- The transaction, named so that a hub whose answer is lost can ask whether it committed.
    OUT xact text, OUT backend integer, OUT at timestamptz,
    OUT opened_ids uuid[], OUT opened_users text[], OUT opened_at timestamptz[],
    -- A closed row's user agent is '' when it has none.
    OUT closed_ids uuid[], OUT closed_users text[], OUT closed_servers text[], OUT closed_agents text[],
    OUT closed_at timestamptz[], OUT closed_reasons text[], OUT server_closed integer[],
    OUT counted_users text[], OUT counted_connections integer[], OUT counted_online boolean[],
    OUT counted_was_online boolean[], OUT counted_versions bigint[],
    OUT graced_users text[], OUT graced_versions bigint[]
) LANGUAGE plpgsql AS $$
DECLARE
    v_users text[];
    v_deltas integer[];
    v_locked text[];
    v_was_online boolean[];
    v_closed integer;
BEGIN
    xact := pg_current_xact_id()::text;
    backend := pg_backend_pid();
    at := now();

    WITH opened AS (
        INSERT INTO rollcall.connections (connection_id, user_id, server_id, user_agent, remote_addr)
        SELECT t.id, t.user_id, p_server, NULLIF(t.agent, ''), NULLIF(t.address, '')::inet
        FROM unnest(p_open_ids, p_open_users, p_open_agents, p_open_addresses) AS t(id, user_id, agent, address)
        ON CONFLICT (connection_id) DO NOTHING
        RETURNING connection_id, user_id, created_at)
    SELECT coalesce(array_agg(o.connection_id), '{}'), coalesce(array_agg(o.user_id), '{}'), coalesce(array_agg(o.created_at), '{}')
    INTO opened_ids, opened_users, opened_at
    FROM opened AS o;

    WITH closed AS (
        UPDATE rollcall.connections AS c
        SET connected = false, disconnected_at = now(), close_reason = t.reason
        FROM unnest(p_close_ids, p_close_reasons) AS t(id, reason)
        WHERE c.connection_id = t.id AND c.connected
        RETURNING c.connection_id, c.user_id, c.server_id, c.user_agent, c.disconnected_at, c.close_reason)
    SELECT coalesce(array_agg(x.connection_id), '{}'), coalesce(array_agg(x.user_id), '{}'),
        coalesce(array_agg(x.server_id), '{}'), coalesce(array_agg(coalesce(x.user_agent, '')), '{}'),
        coalesce(array_agg(x.disconnected_at), '{}'), coalesce(array_agg(x.close_reason), '{}')
    INTO closed_ids, closed_users, closed_servers, closed_agents, closed_at, closed_reasons
    FROM closed AS x;

    server_closed := '{}';
    FOR i IN 1 .. coalesce(cardinality(p_server_closes), 0) LOOP
        WITH closed AS (
            UPDATE rollcall.connections AS c
            SET connected = false, disconnected_at = now(), close_reason = p_server_close_reasons[i]
            WHERE c.server_id = p_server_closes[i] AND c.connected
            RETURNING c.connection_id, c.user_id, c.server_id, c.user_agent, c.disconnected_at, c.close_reason)
        SELECT closed_ids || coalesce(array_agg(x.connection_id), '{}'), closed_users || coalesce(array_agg(x.user_id), '{}'),
            closed_servers || coalesce(array_agg(x.server_id), '{}'), closed_agents || coalesce(array_agg(coalesce(x.user_agent, '')), '{}'),
            closed_at || coalesce(array_agg(x.disconnected_at), '{}'), closed_reasons || coalesce(array_agg(x.close_reason), '{}'),
            count(*)::integer
        INTO closed_ids, closed_users, closed_servers, closed_agents, closed_at, closed_reasons, v_closed
        FROM closed AS x;
        server_closed := server_closed || v_closed;
    END LOOP;

    SELECT coalesce(array_agg(s.user_id ORDER BY s.user_id), '{}'), coalesce(array_agg(s.delta ORDER BY s.user_id), '{}')
    INTO v_users, v_deltas
    FROM (
        SELECT d.user_id, sum(d.delta)::integer AS delta
        FROM (
            SELECT unnest(opened_users), 1
            UNION ALL SELECT unnest(closed_users), -1
            UNION ALL SELECT * FROM unnest(p_more_users, p_more_deltas)
        ) AS d(user_id, delta)
        GROUP BY d.user_id
        HAVING sum(d.delta) <> 0
    ) AS s;

    counted_users := '{}'; counted_connections := '{}'; counted_online := '{}';
    counted_was_online := '{}'; counted_versions := '{}';
    IF cardinality(v_users) > 0 THEN
        -- Every user gets a row, and the rows are locked in order; what each was before the batch.
        WITH locked AS (
            INSERT INTO rollcall.users AS u (user_id) SELECT unnest(v_users) ORDER BY 1
            ON CONFLICT (user_id) DO UPDATE SET user_id = u.user_id
            RETURNING u.user_id, u.online)
        SELECT array_agg(l.user_id), array_agg(l.online) INTO v_locked, v_was_online FROM locked AS l;

        WITH applied AS (
            UPDATE rollcall.users AS u SET
                connections = u.connections + d.delta,
                online = CASE WHEN u.connections + d.delta > 0 THEN true WHEN d.immediate THEN false ELSE u.online END,
                online_since = CASE
                    WHEN u.connections + d.delta > 0 THEN CASE WHEN u.online THEN u.online_since ELSE now() END
                    WHEN d.immediate THEN NULL ELSE u.online_since END,
                offline_pending_since = CASE WHEN u.connections + d.delta = 0 AND u.online AND NOT d.immediate THEN now() END,
                last_seen_at = now(),
                version = u.version + CASE
                    WHEN u.connections + d.delta > 0 AND NOT u.online THEN 1
                    WHEN u.connections + d.delta = 0 AND u.online AND d.immediate THEN 1
                    ELSE 0 END
            FROM (
                SELECT x.user_id, x.delta, p_all_at_once OR x.user_id = ANY(p_at_once) AS immediate
                FROM unnest(v_users, v_deltas) AS x(user_id, delta)
            ) AS d
            WHERE u.user_id = d.user_id
            RETURNING u.user_id, u.connections, u.online, u.version)
        SELECT array_agg(a.user_id), array_agg(a.connections), array_agg(a.online), array_agg(l.online), array_agg(a.version)
        INTO counted_users, counted_connections, counted_online, counted_was_online, counted_versions
        FROM applied AS a JOIN unnest(v_locked, v_was_online) AS l(user_id, online) ON l.user_id = a.user_id;
    END IF;

    graced_users := '{}'; graced_versions := '{}';
    IF cardinality(p_grace_due) > 0 THEN
        -- A connection opened meanwhile (on any hub) cleared offline_pending_since: not due.
        WITH finished AS (
            UPDATE rollcall.users AS u
            SET online = false, online_since = NULL, offline_pending_since = NULL, version = u.version + 1
            WHERE u.user_id = ANY(p_grace_due) AND u.online AND u.connections = 0
              AND u.offline_pending_since <= now() - p_grace_ms * interval '1 millisecond'
            RETURNING u.user_id, u.version)
        SELECT coalesce(array_agg(f.user_id), '{}'), coalesce(array_agg(f.version), '{}')
        INTO graced_users, graced_versions
        FROM finished AS f;
    END IF;
END
$$;
