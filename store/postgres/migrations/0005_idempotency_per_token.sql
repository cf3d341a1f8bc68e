-- Idempotency keys belong to the token that sent them: the identity is
-- (token_id, key), so one client cannot use up, or collide with, another's
-- keys. token_id is 0 for every request when auth is off. Keys stored
-- before this migration have no known token: they keep token_id -1, which
-- every token's lookup also reads, so a retry of a request answered before
-- the upgrade is still answered, not acted on twice.
ALTER TABLE idempotency_keys ADD COLUMN token_id BIGINT NOT NULL DEFAULT -1;
ALTER TABLE idempotency_keys ALTER COLUMN token_id DROP DEFAULT;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (token_id, key);
