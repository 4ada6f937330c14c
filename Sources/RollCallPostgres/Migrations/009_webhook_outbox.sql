-- Webhooks from an outbox: each online, offline, room join and room leave a hub's writer decides
-- is also a row here, written in the same transaction as the transition it reports (no event
-- without its transition, no transition without its event), when the hubs deliver webhooks.
CREATE TABLE rollcall.webhook_outbox (
    event_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The body's "id": what a receiver dedupes by (made by the hub; unique by construction, and
    -- not indexed: an index of random values would be most of what a row costs to write).
    id              uuid NOT NULL,
    type            text NOT NULL,
    user_id         text NOT NULL,
    -- The JSON POSTed, as written.
    body            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    failed_at       timestamptz,
    last_error      text,
    CONSTRAINT webhook_types_known CHECK (type IN ('user.online', 'user.offline', 'room.joined', 'room.left'))
);
-- What is still to deliver, per user in the order written (each user's events go in order).
CREATE INDEX webhook_outbox_pending ON rollcall.webhook_outbox (user_id, event_id) WHERE delivered_at IS NULL AND failed_at IS NULL;

-- Each webhook and how its delivery went.
CREATE VIEW rollcall.webhook_deliveries AS
SELECT event_id, id, type, user_id, created_at, attempts, next_attempt_at, delivered_at, failed_at, last_error,
       CASE WHEN delivered_at IS NOT NULL THEN 'delivered' WHEN failed_at IS NOT NULL THEN 'failed' ELSE 'pending' END AS status
FROM rollcall.webhook_outbox;

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'rollcall_analyst') THEN
        GRANT SELECT ON rollcall.webhook_deliveries TO rollcall_analyst;
    END IF;
END
$$;
