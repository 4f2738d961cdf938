-- Session tokens and the keys that sign them.
-- Plain SQL run by src/store/migrate.ts on PostgreSQL and on PGlite alike:
-- keep to what both accept, and never edit a migration once it has shipped.
-- Timestamps come from the application's clock, as parameters, not from now().

CREATE TABLE keygate_signing_keys (
  kid            text PRIMARY KEY CHECK (kid ~ '^sig_[0-9A-Za-z]{20}$'),
  alg            text NOT NULL CHECK (alg = 'EdDSA'),
  crv            text NOT NULL CHECK (crv = 'Ed25519'),
  -- The public key (JWK "x", base64url of 32 bytes).
  public_x       text NOT NULL CHECK (public_x ~ '^[A-Za-z0-9_-]{43}$'),
  -- The private key, sealed with AES-256-GCM under the signing secret; erased on retirement.
  private_sealed bytea CHECK (octet_length(private_sealed) BETWEEN 30 AND 1024),
  created_at     timestamptz NOT NULL,
  retired_at     timestamptz,
  -- Retired keys only: when the last token the key may have signed expires, and the key leaves the JWKS.
  publish_until  timestamptz,
  CHECK ((retired_at IS NULL) = (publish_until IS NULL)),
  CHECK ((retired_at IS NULL) = (private_sealed IS NOT NULL))
);

-- At most one active (signing) key.
CREATE UNIQUE INDEX keygate_signing_keys_one_active ON keygate_signing_keys ((true)) WHERE retired_at IS NULL;

CREATE TABLE keygate_sessions (
  id             text PRIMARY KEY CHECK (id ~ '^ses_[0-9A-Za-z]{20}$'),
  user_id        text NOT NULL REFERENCES keygate_users (id),
  kid            text NOT NULL REFERENCES keygate_signing_keys (kid),
  -- NULL means every route; '{}' none.
  allowed_routes text[] CHECK (cardinality(allowed_routes) <= 64 AND array_position(allowed_routes, NULL) IS NULL),
  created_at     timestamptz NOT NULL,
  expires_at     timestamptz NOT NULL,
  revoked_at     timestamptz,
  CHECK (expires_at > created_at)
);

CREATE INDEX keygate_sessions_user_list ON keygate_sessions (user_id, created_at, id);
-- The latest expiry among a signing key's tokens, at retirement.
CREATE INDEX keygate_sessions_kid_expiry ON keygate_sessions (kid, expires_at);
