-- Idempotency keys belong to the token that sent them (as payment APIs
-- scope them per account): the identity is (token_id, key), so one
-- client cannot use up, or collide with, another's keys. token_id is 0
-- for every request when auth is off. A primary key cannot be changed in
-- place in SQLite, so the table is rebuilt (plain SQL PostgreSQL also
-- speaks). Keys stored before this migration have no known token: they
-- keep token_id -1, which every token's lookup also reads, so a retry of
-- a request answered before the upgrade is still answered, not acted on
-- twice; they expire within 24 h like any key.
CREATE TABLE idempotency_keys_by_token (
    token_id     INTEGER NOT NULL,
    key          TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    status       INTEGER NOT NULL,
    body         BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (token_id, key)
);
INSERT INTO idempotency_keys_by_token (token_id, key, request_hash, status, body, created_at)
SELECT -1, key, request_hash, status, body, created_at FROM idempotency_keys;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_by_token RENAME TO idempotency_keys;
CREATE INDEX idempotency_created ON idempotency_keys (created_at);
