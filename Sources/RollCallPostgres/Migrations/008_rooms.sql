-- Rooms: named sets of connections (a document, a channel, a game), each member with a state (a
-- JSON object of at most 1 KiB). Every join, state change and leave is written here by the
-- registry writer's batch before it is announced, and numbered by its room's version, which grows
-- by one per change: a watcher that has seen version v of a room has seen every change up to it.

CREATE TABLE rollcall.rooms (
    room       text PRIMARY KEY,
    -- Changes so far; the last change's number.
    version    bigint NOT NULL DEFAULT 0,
    -- Connections in the room now, on every hub.
    members    integer NOT NULL DEFAULT 0 CHECK (members >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    changed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT room_names_fit CHECK (octet_length(room) BETWEEN 1 AND 200)
);

-- One row per stretch of a connection in a room with one state: a join begins one, a state change
-- ends it (`updated`) and begins the next, a leave or the connection's end ends the last. So "who
-- was in the room at t", "in what state" and "for how long" are plain range questions, and the
-- room's present members are the rows still `present`.
CREATE TABLE rollcall.room_members (
    room          text NOT NULL,
    connection_id uuid NOT NULL,
    user_id       text NOT NULL,
    server_id     text NOT NULL,
    state         jsonb NOT NULL,
    -- When the connection joined (the same on every stretch of one membership).
    joined_at     timestamptz NOT NULL,
    since         timestamptz NOT NULL,
    until         timestamptz,
    present       boolean NOT NULL DEFAULT true,
    ended_by      text,
    -- The room's version of the change that began the stretch, and of the one that ended it.
    began_at_version bigint NOT NULL,
    ended_at_version bigint,
    CONSTRAINT ended_by_known CHECK (ended_by IN ('updated', 'left', 'closed', 'orphaned', 'kicked')),
    CONSTRAINT ended_stretches_say_how CHECK (present = (until IS NULL) AND present = (ended_by IS NULL)),
    CONSTRAINT states_are_objects CHECK (jsonb_typeof(state) = 'object')
);
-- A connection is in a room once at a time.
CREATE UNIQUE INDEX room_members_present ON rollcall.room_members (room, connection_id) WHERE present;
-- What a closing connection leaves.
CREATE INDEX room_members_by_connection ON rollcall.room_members (connection_id) WHERE present;
-- A room's history by time; retention.
CREATE INDEX room_members_by_room ON rollcall.room_members (room, since);
CREATE INDEX room_members_ended ON rollcall.room_members (until) WHERE NOT present;
-- A room's changes after a version, read again from these rows by a hub whose LISTEN was down
-- (`RegistryReader.roomEvents`): what began after it, and what ended after it.
CREATE INDEX room_members_began ON rollcall.room_members (room, began_at_version);
CREATE INDEX room_members_ended_version ON rollcall.room_members (room, ended_at_version) WHERE NOT present;

-- Each membership (join to leave) with its length and how many states it went through.
CREATE VIEW rollcall.room_sessions AS
SELECT room, connection_id, user_id, server_id,
       joined_at,
       max(until) FILTER (WHERE ended_by <> 'updated') AS left_at,
       coalesce(max(until) FILTER (WHERE ended_by <> 'updated'), now()) - joined_at AS duration,
       bool_or(present) AS present,
       (array_agg(ended_by ORDER BY began_at_version DESC))[1] AS leave_reason,
       count(*) AS states
FROM rollcall.room_members
GROUP BY room, connection_id, user_id, server_id, joined_at;

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'rollcall_analyst') THEN
        GRANT SELECT ON rollcall.rooms, rollcall.room_members, rollcall.room_sessions TO rollcall_analyst;
    END IF;
END
$$;
