-- The nodes sharing this database, as each last reported itself: a row is
-- upserted by its node every few seconds and removed at its clean
-- shutdown. Counts across the cluster are sums over the rows whose
-- heartbeat is recent. Times are unix milliseconds; rooms is JSON text
-- {"room": connections}.
CREATE TABLE nodes (
    id           TEXT   PRIMARY KEY,
    addr         TEXT   NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    connections  BIGINT NOT NULL,
    rooms        TEXT   NOT NULL,
    delivered    BIGINT NOT NULL
);
