-- The decision log at full speed (src/audit/store.ts): one partition per UTC
-- day, so that retention drops a day at once; the entry as text (no jsonb
-- parsing on the write path), its policy input stored once per day and
-- content (a memo hit repeats its input), rows loaded with COPY.
-- Plain SQL run on PostgreSQL and PGlite alike. keygate_decisions stays, as a
-- view with the columns and the jsonb entry it had, for SQL written against it.

ALTER TABLE keygate_decisions RENAME TO keygate_decisions_003;

CREATE TABLE keygate_decision_log (
  "timestamp"     timestamptz NOT NULL,
  -- The decision id for a decision; an id of its own for a security event.
  id              text COLLATE "C" NOT NULL CHECK (length(id) BETWEEN 1 AND 64),
  kind            text NOT NULL CHECK (kind IN ('decision', 'security')),
  event           text CHECK ((kind = 'security') = (event IS NOT NULL)),
  decision_id     text COLLATE "C" NOT NULL,
  status          smallint,
  code            text,
  credential_type text,
  key_id          text COLLATE "C",
  key_prefix      text,
  subject         text COLLATE "C",
  actor           text COLLATE "C",
  client_address  text,
  reason_codes    text[] NOT NULL DEFAULT '{}',
  -- keygate_decision_inputs.hash of the entry's input, same UTC day; null: the entry holds its input.
  input_hash      text COLLATE "C",
  -- The entry as JSON text; with input_hash, its input is {"now": …} and the rest is in keygate_decision_inputs.
  entry           text NOT NULL
) PARTITION BY RANGE ("timestamp");

-- Also what keeps a replayed or retried entry from being written twice (ON CONFLICT).
CREATE UNIQUE INDEX keygate_decision_log_decision ON keygate_decision_log (decision_id, id, "timestamp");
-- Newest first, time ranges (with status or kind as a filter), cursors.
CREATE INDEX keygate_decision_log_time ON keygate_decision_log ("timestamp", id);
CREATE INDEX keygate_decision_log_key ON keygate_decision_log (key_id, "timestamp") WHERE key_id IS NOT NULL;
CREATE INDEX keygate_decision_log_subject ON keygate_decision_log (subject, "timestamp") WHERE subject IS NOT NULL;
CREATE INDEX keygate_decision_log_actor ON keygate_decision_log (actor, "timestamp") WHERE actor IS NOT NULL;
CREATE INDEX keygate_decision_log_security ON keygate_decision_log ("timestamp", id) WHERE kind = 'security';

-- A policy input with its `now` set to 0, once per UTC day: hash is the SHA-256 (base64url, 22 characters) of that text.
CREATE TABLE keygate_decision_inputs (
  day   date NOT NULL,
  hash  text COLLATE "C" NOT NULL,
  input text NOT NULL,
  PRIMARY KEY (day, hash)
) PARTITION BY RANGE (day);

-- Creates the partitions of one UTC day in both tables unless they exist; true when it did.
-- Instances may call it at once: an advisory lock serializes them, and one that
-- still finds the table made meanwhile (its catalog snapshot predates the lock) returns false.
CREATE FUNCTION keygate_decision_log_partition(d date) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  suffix text := to_char(d, 'YYYYMMDD');
BEGIN
  IF to_regclass('keygate_decision_log_p' || suffix) IS NOT NULL THEN
    RETURN false;
  END IF;
  PERFORM pg_advisory_xact_lock(1801676902); -- "kgpf"
  BEGIN
    EXECUTE format('CREATE TABLE %I PARTITION OF keygate_decision_log FOR VALUES FROM (%L) TO (%L)',
      'keygate_decision_log_p' || suffix, d::text || ' 00:00:00+00', (d + 1)::text || ' 00:00:00+00');
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF keygate_decision_inputs FOR VALUES FROM (%L) TO (%L)',
      'keygate_decision_inputs_p' || suffix, d::text, (d + 1)::text);
  EXCEPTION WHEN duplicate_table OR unique_violation THEN
    RETURN false;
  END;
  RETURN true;
END
$$;

SELECT keygate_decision_log_partition(day)
FROM (SELECT DISTINCT ("timestamp" AT TIME ZONE 'UTC')::date AS day FROM keygate_decisions_003) AS days;

INSERT INTO keygate_decision_log ("timestamp", id, kind, event, decision_id, status, code, credential_type, key_id,
  key_prefix, subject, actor, client_address, reason_codes, input_hash, entry)
SELECT "timestamp", id, kind, event, decision_id, status, code, credential_type, key_id,
  key_prefix, subject, actor, client_address, reason_codes, NULL, entry::text
FROM keygate_decisions_003;

DROP TABLE keygate_decisions_003;

CREATE VIEW keygate_decisions AS
SELECT l.id, l.kind, l.event, l.decision_id, l."timestamp", l.status, l.code, l.credential_type, l.key_id,
  l.key_prefix, l.subject, l.actor, l.client_address, l.reason_codes,
  CASE WHEN l.input_hash IS NULL THEN l.entry::jsonb
       ELSE jsonb_set(l.entry::jsonb, '{input}', i.input::jsonb || jsonb_build_object('now', l.entry::jsonb #> '{input,now}'))
  END AS entry
FROM keygate_decision_log l
LEFT JOIN keygate_decision_inputs i ON i.day = (l."timestamp" AT TIME ZONE 'UTC')::date AND i.hash = l.input_hash;
