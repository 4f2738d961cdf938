-- A shorter row for the decisions the memo answers (src/audit/row.ts): their
-- entries differ only in their ids, time, client address, timer and input's
-- `now`. The rest, the entry's template, is stored once per day and content in
-- keygate_decision_templates; the row's entry holds only the fields that vary
-- and are not columns, each whole ({"input": {"now": …}, "metrics": {…}}), and
-- the entry is the template's fields, then the columns id, decision_id,
-- "timestamp" and client_address, then the row's entry over them.
-- Never edit once shipped.

ALTER TABLE keygate_decision_log ADD COLUMN template_hash text COLLATE "C";

-- An entry with its varying fields blank (`""`, 0, null) and its input `{"now": 0}`,
-- once per UTC day: hash is the SHA-256 (base64url, 22 characters) of that text.
CREATE TABLE keygate_decision_templates (
  day   date NOT NULL,
  hash  text COLLATE "C" NOT NULL,
  entry text NOT NULL,
  PRIMARY KEY (day, hash)
) PARTITION BY RANGE (day);

-- As in 008, and the day's templates too; a day whose log partition an older
-- instance made without them gets them now.
CREATE OR REPLACE FUNCTION keygate_decision_log_partition(d date) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  suffix text := to_char(d, 'YYYYMMDD');
  made boolean := false;
BEGIN
  IF to_regclass('keygate_decision_log_p' || suffix) IS NOT NULL AND to_regclass('keygate_decision_templates_p' || suffix) IS NOT NULL THEN
    RETURN false;
  END IF;
  PERFORM pg_advisory_xact_lock(1801676902); -- "kgpf"
  BEGIN
    IF to_regclass('keygate_decision_log_p' || suffix) IS NULL THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF keygate_decision_log FOR VALUES FROM (%L) TO (%L)',
        'keygate_decision_log_p' || suffix, d::text || ' 00:00:00+00', (d + 1)::text || ' 00:00:00+00');
      made := true;
    END IF;
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF keygate_decision_inputs FOR VALUES FROM (%L) TO (%L)',
      'keygate_decision_inputs_p' || suffix, d::text, (d + 1)::text);
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF keygate_decision_templates FOR VALUES FROM (%L) TO (%L)',
      'keygate_decision_templates_p' || suffix, d::text, (d + 1)::text);
  EXCEPTION WHEN duplicate_table OR unique_violation THEN
    RETURN false;
  END;
  RETURN made;
END
$$;

SELECT keygate_decision_log_partition(to_date(substring(c.relname FROM 'keygate_decision_log_p(\d{8})$'), 'YYYYMMDD'))
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'keygate_decision_log'::regclass AND c.relname ~ '^keygate_decision_log_p\d{8}$';

CREATE OR REPLACE VIEW keygate_decisions AS
SELECT l.id, l.kind, l.event, l.decision_id, l."timestamp", l.status, l.code, l.credential_type, l.key_id,
  l.key_prefix, l.subject, l.actor, l.client_address, l.reason_codes,
  CASE WHEN l.input_hash IS NULL THEN e.entry
       ELSE jsonb_set(e.entry, '{input}', i.input::jsonb || jsonb_build_object('now', e.entry #> '{input,now}'))
  END AS entry
FROM keygate_decision_log l
LEFT JOIN keygate_decision_templates t ON t.day = (l."timestamp" AT TIME ZONE 'UTC')::date AND t.hash = l.template_hash
CROSS JOIN LATERAL (SELECT CASE WHEN l.template_hash IS NULL THEN l.entry::jsonb
  ELSE t.entry::jsonb || jsonb_build_object('id', l.id, 'decision_id', l.decision_id,
    'timestamp', to_char(l."timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'client_address', l.client_address) || l.entry::jsonb
  END AS entry) AS e
LEFT JOIN keygate_decision_inputs i ON i.day = (l."timestamp" AT TIME ZONE 'UTC')::date AND i.hash = l.input_hash;
