-- The day's numbers (reports). Everything a report reads is kept as data
-- of its own, apart from the event log, which retention prunes.
--
-- Each order's status history: one row per status it reached (statuses
-- only move forward, so each at most once), written in the transaction
-- that made the change. Orders made before this migration get what can
-- still be known: 'pending' at their creation, the status changes and
-- cancellations the log still holds, and their current status at their
-- last update when the log no longer says.
CREATE TABLE order_status_history (
    order_id  INTEGER NOT NULL REFERENCES orders(id),
    tenant_id INTEGER NOT NULL,
    status    TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    PRIMARY KEY (order_id, status)
) WITHOUT ROWID;
CREATE INDEX order_status_history_at ON order_status_history (status, at, tenant_id);

INSERT INTO order_status_history (order_id, tenant_id, status, at)
SELECT id, tenant_id, 'pending', created_at FROM orders;
INSERT OR IGNORE INTO order_status_history (order_id, tenant_id, status, at)
SELECT o.id, o.tenant_id, json_extract(e.data, '$.new_status'), e.ts
FROM events e JOIN orders o ON o.id = json_extract(e.data, '$.order_id')
WHERE e.name = 'order:status_changed' AND json_valid(e.data);
INSERT OR IGNORE INTO order_status_history (order_id, tenant_id, status, at)
SELECT o.id, o.tenant_id, 'cancelled', e.ts
FROM events e JOIN orders o ON o.id = json_extract(e.data, '$.order_id')
WHERE e.name = 'order:cancelled' AND json_valid(e.data);
INSERT OR IGNORE INTO order_status_history (order_id, tenant_id, status, at)
SELECT id, tenant_id, status, updated_at FROM orders WHERE status <> 'pending';

-- Events per 15-minute bucket (UTC, unix ms of its start), stall (0: an
-- event of no one stall) and event name, upserted in the transaction that
-- appends each event: counts survive retention and restarts. Every zone's
-- offset is a whole number of quarter hours, so a bucket lies in one local
-- hour wherever the server is. Filled here from the events still kept.
CREATE TABLE event_counts (
    bucket    INTEGER NOT NULL,
    tenant_id INTEGER NOT NULL,
    name      TEXT    NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (bucket, tenant_id, name)
) WITHOUT ROWID;
INSERT INTO event_counts (bucket, tenant_id, name, n)
SELECT (ts / 900000) * 900000,
       CASE WHEN rooms LIKE 'tenant-%' THEN CAST(substr(rooms, 8, instr(rooms || ',', ',') - 8) AS INTEGER) ELSE 0 END,
       name, COUNT(*)
FROM events GROUP BY 1, 2, 3;

-- Revenue shares and payment fees in basis points, each with its history:
-- a row applies from its local date until the next row's.
CREATE TABLE tenant_shares (
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    from_date TEXT    NOT NULL,
    bp        INTEGER NOT NULL CHECK (bp BETWEEN 0 AND 10000),
    set_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, from_date)
);
CREATE TABLE method_fees (
    method    TEXT    NOT NULL,
    from_date TEXT    NOT NULL,
    bp        INTEGER NOT NULL CHECK (bp BETWEEN 0 AND 10000),
    set_at    INTEGER NOT NULL,
    PRIMARY KEY (method, from_date)
);

-- Closed settlement periods: the settlement as it was computed at the
-- close, kept as its JSON, is what the period reports from then on.
CREATE TABLE settlement_periods (
    month     TEXT    PRIMARY KEY,
    from_date TEXT    NOT NULL,
    to_date   TEXT    NOT NULL,
    tz        TEXT    NOT NULL,
    closed_at INTEGER NOT NULL,
    snapshot  TEXT    NOT NULL
);

-- Sales are read by payment and refund time; the index covers the sums.
CREATE INDEX payments_created ON payments (created_at, order_id, kind, method, amount, status, original_payment_id);
