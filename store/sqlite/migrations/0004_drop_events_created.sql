-- Nothing reads events by created_at through this index: the prune walks
-- the log by id (a cursor over the primary key) and tests created_at on
-- the rows it reads. The index only cost every event one more b-tree
-- insert and WAL frame.
DROP INDEX IF EXISTS events_created;
