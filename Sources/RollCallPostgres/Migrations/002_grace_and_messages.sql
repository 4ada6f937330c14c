-- Offline grace: a user whose last connection closed stays online until the grace ends
-- without a new connection on any hub. The pending state lives here, so any hub can finish it.
ALTER TABLE rollcall.users ADD COLUMN offline_pending_since timestamptz;
CREATE INDEX users_offline_pending ON rollcall.users (offline_pending_since) WHERE offline_pending_since IS NOT NULL;

-- Messages too large for a NOTIFY payload wait here; the notification carries the id.
CREATE TABLE rollcall.message_payloads (
    id         bigserial PRIMARY KEY,
    recipient  text NOT NULL,
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX message_payloads_by_age ON rollcall.message_payloads (created_at);
