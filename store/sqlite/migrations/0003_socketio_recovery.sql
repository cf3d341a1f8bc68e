-- Socket.IO connection-state recovery records: written when the server
-- stops and taken back (then deleted) when it starts, so a client that
-- reconnects after a restart within the recovery window still recovers.
CREATE TABLE socketio_recovery (
    pid        TEXT    PRIMARY KEY,
    id         TEXT    NOT NULL,
    token_id   INTEGER NOT NULL,
    rooms      TEXT    NOT NULL,  -- JSON array of room names
    base       INTEGER NOT NULL,  -- the event id the session had seen at least
    expires_at INTEGER NOT NULL   -- unix ms
) WITHOUT ROWID;
