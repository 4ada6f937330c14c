-- What the outbox needs to be leased cheaply, read and kept small.
--
-- The lease walks the pending events in the order written until it has enough, checking each
-- against its user's oldest pending one: a partial index on event_id over the pending rows
-- only, so its size follows the backlog, not the table, and a lease's cost follows the lease.
CREATE INDEX webhook_outbox_due ON rollcall.webhook_outbox (event_id) WHERE delivered_at IS NULL AND failed_at IS NULL;
-- A lease changes no indexed column, so with room on its page it is a HOT update: no index
-- entries, and no dead ones for vacuum. Half of each page is kept for that (new pages only;
-- rows live until retention, so the table is twice as large for the same rows). The delivered
-- mark cannot be HOT (it takes the row out of the two partial indexes).
ALTER TABLE rollcall.webhook_outbox SET (fillfactor = 50);
-- The retention sweep deletes delivered and failed events by age, and the dashboard counts the
-- last hour's events and the last day's failures. A BRIN index on created_at (rows arrive in
-- time order, so a few pages of ranges cover the table and each insert costs next to nothing),
-- and a partial index on the failures (rare, so it holds few entries and most writes never
-- touch it).
CREATE INDEX webhook_outbox_created ON rollcall.webhook_outbox USING brin (created_at);
CREATE INDEX webhook_outbox_failed ON rollcall.webhook_outbox (failed_at) WHERE failed_at IS NOT NULL;
