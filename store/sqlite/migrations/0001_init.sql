-- posd schema v1. Money is INTEGER Rupiah; times are INTEGER unix milliseconds
-- (UTC), which PostgreSQL stores as BIGINT just as well.

CREATE TABLE tenants (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    code        TEXT    NOT NULL UNIQUE,
    order_seq   INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

CREATE TABLE counters (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE orders (
    id              INTEGER PRIMARY KEY,
    tenant_id       INTEGER NOT NULL REFERENCES tenants(id),
    seq             INTEGER NOT NULL,
    order_number    TEXT    NOT NULL UNIQUE,
    customer_name   TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending','preparing','ready','completed','cancelled')),
    total_amount    INTEGER NOT NULL CHECK (total_amount >= 0),
    paid_amount     INTEGER NOT NULL DEFAULT 0,
    refunded_amount INTEGER NOT NULL DEFAULT 0,
    cancel_reason   TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (tenant_id, seq)
);
CREATE INDEX orders_status ON orders (status, id);
CREATE INDEX orders_tenant_status ON orders (tenant_id, status, id);

CREATE TABLE order_items (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL REFERENCES orders(id),
    name        TEXT    NOT NULL,
    quantity    INTEGER NOT NULL CHECK (quantity >= 1),
    unit_price  INTEGER NOT NULL CHECK (unit_price >= 0),
    notes       TEXT    NOT NULL DEFAULT '',
    subtotal    INTEGER NOT NULL
);
CREATE INDEX order_items_order ON order_items (order_id);

-- Payments and refunds share a table: a refund row points at its payment.
CREATE TABLE payments (
    id                  INTEGER PRIMARY KEY,
    kind                TEXT    NOT NULL CHECK (kind IN ('payment','refund')),
    order_id            INTEGER NOT NULL REFERENCES orders(id),
    counter_id          INTEGER REFERENCES counters(id),
    method              TEXT    NOT NULL,
    amount              INTEGER NOT NULL CHECK (amount >= 0),
    amount_paid         INTEGER NOT NULL DEFAULT 0,
    change_amount       INTEGER NOT NULL DEFAULT 0,
    status              TEXT    NOT NULL,
    reference           TEXT    NOT NULL UNIQUE,
    original_payment_id INTEGER REFERENCES payments(id),
    reason              TEXT    NOT NULL DEFAULT '',
    refunded_amount     INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    CHECK (refunded_amount <= amount)
);
-- The database itself refuses a second successful payment for an order.
CREATE UNIQUE INDEX payments_one_per_order ON payments (order_id) WHERE kind = 'payment' AND status = 'success';
CREATE INDEX payments_counter ON payments (counter_id, id);
CREATE INDEX payments_order ON payments (order_id);

CREATE TABLE qr_codes (
    id              INTEGER PRIMARY KEY,
    order_id        INTEGER NOT NULL UNIQUE REFERENCES orders(id),
    token           TEXT    NOT NULL UNIQUE,
    status          TEXT    NOT NULL,
    scanned_count   INTEGER NOT NULL DEFAULT 0,
    last_scanned_at INTEGER
);

-- The event log (transactional outbox). id is the offset clients resume from.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    ts          INTEGER NOT NULL,
    data        TEXT,
    severity    TEXT    NOT NULL DEFAULT '',
    message     TEXT    NOT NULL DEFAULT '',
    rooms       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX events_created ON events (created_at);

CREATE TABLE event_rooms (
    room        TEXT    NOT NULL,
    event_id    INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    PRIMARY KEY (room, event_id)
) WITHOUT ROWID;
CREATE INDEX event_rooms_event ON event_rooms (event_id);

-- pruned_through: the highest event id retention has deleted (0: none).
CREATE TABLE log_meta (
    key     TEXT PRIMARY KEY,
    value   INTEGER NOT NULL
);
INSERT INTO log_meta (key, value) VALUES ('pruned_through', 0);

CREATE TABLE idempotency_keys (
    key          TEXT    PRIMARY KEY,
    request_hash TEXT    NOT NULL,
    status       INTEGER NOT NULL,
    body         BLOB    NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX idempotency_created ON idempotency_keys (created_at);

CREATE TABLE tokens (
    id          INTEGER PRIMARY KEY,
    hash        TEXT    NOT NULL UNIQUE,
    role        TEXT    NOT NULL,
    tenant_id   INTEGER NOT NULL DEFAULT 0,
    counter_id  INTEGER NOT NULL DEFAULT 0,
    user_id     INTEGER NOT NULL DEFAULT 0,
    display     INTEGER NOT NULL DEFAULT 0,
    label       TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER
);
