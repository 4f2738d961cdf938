-- Accounts and their secret keys.
-- Plain SQL run by src/store/migrate.ts on PostgreSQL and on PGlite alike:
-- keep to what both accept, and never edit a migration once it has shipped.

-- True when every flag is a lower-case slug (e.g. "read-only").
CREATE FUNCTION keygate_valid_flags(flags text[]) RETURNS boolean
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT coalesce(bool_and(f IS NOT NULL AND f ~ '^[a-z][a-z0-9-]*$' AND length(f) <= 64), true) FROM unnest(flags) AS f $$;

CREATE TABLE keygate_users (
  -- Ids compare byte-wise ("C"), so that listings sort alike on every server.
  id               text COLLATE "C" PRIMARY KEY CHECK (id ~ '^usr_[0-9A-Za-z]{20}$'),
  parent_id        text COLLATE "C" REFERENCES keygate_users (id),
  -- As given; matched through email_normalized.
  email            text NOT NULL CHECK (length(email) <= 320 AND btrim(email) ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
  email_normalized text NOT NULL GENERATED ALWAYS AS (lower(btrim(email))) STORED,
  name             text CHECK (length(name) <= 200),
  role             text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
  -- A sorted set, kept sorted by the store.
  restrictions     text[] NOT NULL DEFAULT '{}' CHECK (keygate_valid_flags(restrictions) AND cardinality(restrictions) <= 32),
  disabled         boolean NOT NULL DEFAULT false,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  deleted_at       timestamptz,
  CHECK (parent_id <> id)
);

-- One live account per e-mail among top-level accounts, and among the children of each parent.
CREATE UNIQUE INDEX keygate_users_top_level_email_key ON keygate_users (email_normalized)
  WHERE parent_id IS NULL AND deleted_at IS NULL;
CREATE UNIQUE INDEX keygate_users_child_email_key ON keygate_users (parent_id, email_normalized)
  WHERE parent_id IS NOT NULL AND deleted_at IS NULL;
-- Child lookup by e-mail, deleted children included.
CREATE INDEX keygate_users_child_email ON keygate_users (parent_id, email_normalized);
-- Listing, in creation order.
CREATE INDEX keygate_users_top_level_list ON keygate_users (created_at, id)
  WHERE parent_id IS NULL AND deleted_at IS NULL;
CREATE INDEX keygate_users_child_list ON keygate_users (parent_id, created_at, id)
  WHERE deleted_at IS NULL;

CREATE TABLE keygate_keys (
  id           text COLLATE "C" PRIMARY KEY CHECK (id ~ '^key_[0-9A-Za-z]{20}$'),
  user_id      text COLLATE "C" NOT NULL REFERENCES keygate_users (id),
  -- SHA-256 of the whole secret; the secret itself is never stored.
  hash         bytea NOT NULL CHECK (octet_length(hash) = 32),
  -- Non-secret display prefix.
  prefix       text NOT NULL CHECK (length(prefix) BETWEEN 1 AND 32),
  name         text CHECK (length(name) <= 200),
  -- NULL means full access.
  scopes       text[] CHECK (cardinality(scopes) <= 100 AND array_position(scopes, NULL) IS NULL),
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  revoked_at   timestamptz,
  last_used_at timestamptz,
  use_count    bigint NOT NULL DEFAULT 0
);

CREATE UNIQUE INDEX keygate_keys_hash_key ON keygate_keys (hash);
CREATE INDEX keygate_keys_user_list ON keygate_keys (user_id, created_at, id);

-- Every change that may alter a cached answer is announced on the channel
-- keygate_changes (delivered at commit, to every instance that LISTENs):
--   {"type":"user","id":…,"parentId":…}              a user was created or changed
--   {"type":"key","id":…,"userId":…,"hash":"<hex>"}  a key was created, revoked, re-dated, …
-- Triggers rather than store code, so that a change made by hand in SQL is announced too.
CREATE FUNCTION keygate_announce_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('keygate_changes', json_build_object('type', 'user', 'id', NEW.id, 'parentId', NEW.parent_id)::text);
  RETURN NULL;
END $$;

CREATE FUNCTION keygate_announce_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('keygate_changes',
    json_build_object('type', 'key', 'id', NEW.id, 'userId', NEW.user_id, 'hash', encode(NEW.hash, 'hex'))::text);
  RETURN NULL;
END $$;

CREATE TRIGGER keygate_users_announce AFTER INSERT OR UPDATE ON keygate_users
  FOR EACH ROW EXECUTE FUNCTION keygate_announce_user();
CREATE TRIGGER keygate_keys_announce_insert AFTER INSERT ON keygate_keys
  FOR EACH ROW EXECUTE FUNCTION keygate_announce_key();
-- Not for usage bookkeeping (last_used_at, use_count).
CREATE TRIGGER keygate_keys_announce_update AFTER UPDATE ON keygate_keys
  FOR EACH ROW WHEN ((OLD.user_id, OLD.hash, OLD.scopes, OLD.expires_at, OLD.revoked_at)
    IS DISTINCT FROM (NEW.user_id, NEW.hash, NEW.scopes, NEW.expires_at, NEW.revoked_at))
  EXECUTE FUNCTION keygate_announce_key();
