-- The counters are kept by one upsert per batch (create the user if new, lock it, apply the
-- batch's delta) instead of an upsert to lock and an update to count. An upsert's RETURNING
-- shows the row after it, so the row says itself whether this transaction flipped `online`:
-- `changed_in` is the transaction that last changed `version`.
ALTER TABLE rollcall.users ADD COLUMN changed_in xid8;
