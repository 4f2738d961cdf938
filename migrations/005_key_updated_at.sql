-- When a key's name, expiry or revocation last changed: the `updatedAt` that
-- @chatbotkit/sdk reads in token listings. Existing keys start at their creation.
-- Plain SQL run on PostgreSQL and on PGlite alike; never edit once shipped.

ALTER TABLE keygate_keys ADD COLUMN updated_at timestamptz;
UPDATE keygate_keys SET updated_at = coalesce(revoked_at, created_at);
ALTER TABLE keygate_keys ALTER COLUMN updated_at SET NOT NULL, ALTER COLUMN updated_at SET DEFAULT now();
