-- The registry: hubs, every connection ever made, and per-user presence counters.
CREATE TABLE rollcall.servers (
    server_id    text PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    stopped_at   timestamptz,
    version      text NOT NULL,
    host         text NOT NULL
);

CREATE TABLE rollcall.connections (
    connection_id   uuid PRIMARY KEY,
    user_id         text NOT NULL,
    server_id       text NOT NULL,
    user_agent      text,
    remote_addr     inet,
    created_at      timestamptz NOT NULL DEFAULT now(),
    connected       boolean NOT NULL DEFAULT true,
    disconnected_at timestamptz,
    close_reason    text,
    CONSTRAINT close_reason_known CHECK (close_reason IN (
        'client_closed', 'timeout', 'server_shutdown', 'server_restart', 'orphaned', 'kicked', 'protocol_error')),
    CONSTRAINT closed_rows_say_when CHECK (connected OR disconnected_at IS NOT NULL)
);

-- Open rows are few and hot: every presence question and every purge reads them.
CREATE INDEX connections_open_by_user ON rollcall.connections (user_id) WHERE connected;
CREATE INDEX connections_open_by_server ON rollcall.connections (server_id) WHERE connected;
-- History by user, newest first, for GET /v1/users/{id}/connections?all=true.
CREATE INDEX connections_by_user_created ON rollcall.connections (user_id, created_at DESC);
-- Retention deletes closed rows oldest first.
CREATE INDEX connections_closed_by_time ON rollcall.connections (disconnected_at) WHERE NOT connected;

CREATE TABLE rollcall.users (
    user_id       text PRIMARY KEY,
    online        boolean NOT NULL DEFAULT false,
    connections   integer NOT NULL DEFAULT 0 CHECK (connections >= 0),
    online_since  timestamptz,
    last_seen_at  timestamptz,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    version       bigint NOT NULL DEFAULT 0
);

CREATE INDEX users_online ON rollcall.users (user_id) WHERE online;
