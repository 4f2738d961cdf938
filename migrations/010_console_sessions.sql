-- Console sessions: what a person signed in to /console holds, in a cookie,
-- after pasting a full-access secret key once. A credential of its own kind:
-- the row names the key whose rights it carries (and never more), the cookie
-- holds a random token of which only the SHA-256 hash is kept here.
-- Plain SQL run on PostgreSQL and on PGlite alike; never edit once shipped.
-- Timestamps come from the application's clock, as parameters.

CREATE TABLE keygate_console_sessions (
  id            text PRIMARY KEY CHECK (id ~ '^con_[0-9A-Za-z]{20}$'),
  token_hash    bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
  key_id        text COLLATE "C" NOT NULL REFERENCES keygate_keys (id),
  created_at    timestamptz NOT NULL,
  -- Moved forward on every use: the idle timeout counts from it.
  last_seen_at  timestamptz NOT NULL,
  -- The absolute timeout, whatever the use.
  expires_at    timestamptz NOT NULL,
  -- Sign-out.
  ended_at      timestamptz,
  CHECK (expires_at > created_at)
);

CREATE INDEX keygate_console_sessions_key ON keygate_console_sessions (key_id);
