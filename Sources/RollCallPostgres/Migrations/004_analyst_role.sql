-- A read-only role for analysts: SELECT on the connection history and its views, nothing else
-- (not the stored message bodies, not the migrations). Grant it to each analyst's own login:
--   CREATE ROLE ana LOGIN PASSWORD '...' IN ROLE rollcall_analyst;
-- Roles belong to the whole cluster, so it may exist already (another database of the cluster).
-- Where the hubs' database user may not create roles, this step does nothing and says so; an
-- operator then creates the role and runs the grants below (docs/analytics.md).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rollcall_analyst') THEN
        BEGIN
            CREATE ROLE rollcall_analyst NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL;
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'rollcall_analyst was not created: this user may not create roles';
                RETURN;
        END;
    END IF;
    GRANT USAGE ON SCHEMA rollcall TO rollcall_analyst;
    GRANT SELECT ON rollcall.connections, rollcall.users, rollcall.servers,
        rollcall.online_users, rollcall.sessions, rollcall.daily_active_users, rollcall.concurrency_by_minute
        TO rollcall_analyst;
END
$$;
