-- Decision log, security events and daily key usage (src/audit/).
-- Plain SQL run by src/store/migrate.ts on PostgreSQL and on PGlite alike:
-- keep to what both accept, and never edit a migration once it has shipped.
-- Timestamps come from the application's clock, as parameters, not from now().
-- Nothing secret is stored here: entries are masked before they exist.

CREATE TABLE keygate_decisions (
  -- The decision id for a decision; an id of its own for a security event.
  id              text COLLATE "C" PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
  kind            text NOT NULL CHECK (kind IN ('decision', 'security')),
  -- Security events only: what was seen (revoked_key_presented, unauthenticated_burst, …).
  event           text CHECK ((kind = 'security') = (event IS NOT NULL)),
  -- The decision this row is about (for an event: the decision that raised it).
  decision_id     text COLLATE "C" NOT NULL,
  "timestamp"     timestamptz NOT NULL,
  status          smallint,
  code            text,
  credential_type text,
  key_id          text COLLATE "C",
  key_prefix      text,
  -- The account acted as (the child while impersonating); for an event, the key's owner.
  subject         text COLLATE "C",
  -- The account holding the credential while impersonating.
  actor           text COLLATE "C",
  client_address  text,
  reason_codes    text[] NOT NULL DEFAULT '{}',
  -- The whole entry, OPA decision-log field names and Keygate's own.
  entry           jsonb NOT NULL
);

-- Newest first, and the retention job's oldest first.
CREATE INDEX keygate_decisions_time ON keygate_decisions ("timestamp", id);
CREATE INDEX keygate_decisions_decision ON keygate_decisions (decision_id);
CREATE INDEX keygate_decisions_subject ON keygate_decisions (subject, "timestamp") WHERE subject IS NOT NULL;
CREATE INDEX keygate_decisions_actor ON keygate_decisions (actor, "timestamp") WHERE actor IS NOT NULL;
CREATE INDEX keygate_decisions_key ON keygate_decisions (key_id, "timestamp") WHERE key_id IS NOT NULL;
CREATE INDEX keygate_decisions_security ON keygate_decisions ("timestamp", id) WHERE kind = 'security';

-- Requests per key and UTC day, added up in batches (keygate_keys holds the totals).
CREATE TABLE keygate_key_usage_daily (
  key_id       text COLLATE "C" NOT NULL CHECK (key_id ~ '^key_[0-9A-Za-z]{20}$'),
  day          date NOT NULL,
  -- Decisions in which the key authenticated; denied: those refused all the same (403).
  requests     bigint NOT NULL DEFAULT 0 CHECK (requests >= 0),
  denied       bigint NOT NULL DEFAULT 0 CHECK (denied >= 0 AND denied <= requests),
  last_used_at timestamptz NOT NULL,
  PRIMARY KEY (key_id, day)
);
