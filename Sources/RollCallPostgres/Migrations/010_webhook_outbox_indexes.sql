-- What the outbox needs to be leased, read and kept small.
--
-- The lease walks the pending events in the order written until it has enough, checking each
-- against its user's oldest pending one: a partial index on event_id over the pending rows
-- only, so its size follows the backlog, not the table, and a lease's cost follows the lease.
CREATE INDEX webhook_outbox_due ON rollcall.webhook_outbox (event_id) WHERE delivered_at IS NULL AND failed_at IS NULL;
-- The retention sweep deletes delivered and failed events by age, and the dashboard counts the
-- last hour's events and the last day's failures. A BRIN index on created_at (rows arrive in
-- time order, so a few pages of ranges cover the table and each insert costs next to nothing),
-- and a partial index on the failures (rare, so it holds few entries and most writes never
-- touch it).
CREATE INDEX webhook_outbox_created ON rollcall.webhook_outbox USING brin (created_at);
CREATE INDEX webhook_outbox_failed ON rollcall.webhook_outbox (failed_at) WHERE failed_at IS NOT NULL;
