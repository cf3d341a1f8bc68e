-- Reports over a month of a busy court (85,000 orders and payments,
-- 100,000 event count rows) read in range scans of an index each, with no
-- lookups per row and no sort.
--
-- One row per order with the time it reached each status (0: never),
-- written in the transaction that writes each line of its status history,
-- which stays the record. The speed report reads a range of orders by
-- their creation through the covering index, instead of four lookups per
-- order into the history. Filled from the history.
CREATE TABLE order_timings (
    order_id     INTEGER PRIMARY KEY REFERENCES orders(id),
    tenant_id    INTEGER NOT NULL,
    created_at   INTEGER NOT NULL DEFAULT 0,
    preparing_at INTEGER NOT NULL DEFAULT 0,
    ready_at     INTEGER NOT NULL DEFAULT 0,
    completed_at INTEGER NOT NULL DEFAULT 0,
    cancelled_at INTEGER NOT NULL DEFAULT 0
);
INSERT INTO order_timings (order_id, tenant_id, created_at, preparing_at, ready_at, completed_at, cancelled_at)
SELECT order_id, MIN(tenant_id),
       MAX(CASE status WHEN 'pending'   THEN at ELSE 0 END),
       MAX(CASE status WHEN 'preparing' THEN at ELSE 0 END),
       MAX(CASE status WHEN 'ready'     THEN at ELSE 0 END),
       MAX(CASE status WHEN 'completed' THEN at ELSE 0 END),
       MAX(CASE status WHEN 'cancelled' THEN at ELSE 0 END)
FROM order_status_history GROUP BY order_id;
CREATE INDEX order_timings_created ON order_timings (created_at, tenant_id, preparing_at, ready_at, completed_at, cancelled_at);

-- The event report sums a range of quarter hours per bucket and name:
-- in this order SQLite streams the sums out of the index, where the key's
-- order (bucket, stall, name) made it sort every row first.
CREATE INDEX event_counts_name ON event_counts (bucket, name, tenant_id, n);

-- Each payment names its order's stall, so that the sales sums need not
-- look up the order of every payment, and payments_report holds them in
-- the order the sums are grouped in (stall, kind, method): a sales report
-- reads, for each of those, the range of its time, and the sums stream out
-- of the index without a sort. payments_created, which it replaces, made
-- SQLite sort every payment of the range.
ALTER TABLE payments ADD COLUMN tenant_id INTEGER NOT NULL DEFAULT 0;
UPDATE payments SET tenant_id = (SELECT o.tenant_id FROM orders o WHERE o.id = payments.order_id);
CREATE INDEX payments_report ON payments (status, tenant_id, kind, method, created_at, amount, original_payment_id);
DROP INDEX payments_created;
