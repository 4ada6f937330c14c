-- What the outbox needs to be read and kept small: the retention sweep deletes delivered and
-- failed events by age, and the dashboard counts the last hour's events and the last day's
-- failures. A BRIN index on created_at (rows arrive in time order, so a few pages of ranges
-- cover the table and each insert costs next to nothing), and a partial index on the failures
-- (rare, so it holds few entries and most writes never touch it).
CREATE INDEX webhook_outbox_created ON rollcall.webhook_outbox USING brin (created_at);
CREATE INDEX webhook_outbox_failed ON rollcall.webhook_outbox (failed_at) WHERE failed_at IS NOT NULL;
