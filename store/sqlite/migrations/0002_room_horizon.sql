-- Retention records, per room, the highest event id it has deleted
-- (log_meta key 'room:<name>'; 'room:*' for events to every connection), so
-- that a client of a quiet room whose events keep-per-room kept can resume
-- from far back. Deletions made before this migration were only recorded
-- globally: they count against every room.
INSERT INTO log_meta (key, value)
SELECT 'room:*', value FROM log_meta WHERE key = 'pruned_through' AND value > 0;
