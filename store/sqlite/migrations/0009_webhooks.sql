-- Webhooks: endpoints that get the events of the log, in log order, at
-- least once. cursor_id is the last event delivered (or passed over as not
-- the endpoint's); gen counts operator changes, so a worker's progress for
-- an older generation is refused. One node at a time delivers an endpoint:
-- owner, until lease_until. Times are unix milliseconds.
CREATE TABLE webhooks (
    id              INTEGER PRIMARY KEY,
    tenant_id       INTEGER NOT NULL DEFAULT 0,
    url             TEXT    NOT NULL,
    events          TEXT    NOT NULL DEFAULT '',
    secret          TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('active','paused','disabled')),
    disabled_reason TEXT    NOT NULL DEFAULT '',
    disabled_at     INTEGER,
    cursor_id       INTEGER NOT NULL,
    gen             INTEGER NOT NULL DEFAULT 1,
    failing_since   INTEGER,
    attempt         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_error      TEXT    NOT NULL DEFAULT '',
    owner           TEXT    NOT NULL DEFAULT '',
    lease_until     INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
);

-- Each endpoint's recent attempts, trimmed to the newest hundred.
CREATE TABLE webhook_deliveries (
    id          INTEGER PRIMARY KEY,
    webhook_id  INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id    TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    status      INTEGER NOT NULL,
    latency_us  INTEGER NOT NULL,
    error       TEXT    NOT NULL DEFAULT '',
    node        TEXT    NOT NULL DEFAULT '',
    at          INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, id);
