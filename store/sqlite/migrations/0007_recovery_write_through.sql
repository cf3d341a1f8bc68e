-- Socket.IO recovery records are written through as sockets connect, join,
-- leave and drop, by whichever node holds them: owner names that node and
-- gen counts the claims, so that a late write of an older generation
-- changes nothing. Records kept by an older version's shutdown stay
-- claimable as generation 1.
ALTER TABLE socketio_recovery ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE socketio_recovery ADD COLUMN gen INTEGER NOT NULL DEFAULT 1;
CREATE INDEX socketio_recovery_expires ON socketio_recovery (expires_at);
-- A random secret every node of this database shares: nodes sign the
-- requests they forward to each other with it.
CREATE TABLE cluster_secret (secret TEXT NOT NULL);
INSERT INTO cluster_secret (secret) VALUES (lower(hex(randomblob(32))));
