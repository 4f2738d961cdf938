-- Rate limits and quotas on keys and accounts (src/limits): {"rate": {"limit", "windowSeconds"}, "quota": {"limit", "period"}} or NULL.
ALTER TABLE keygate_users ADD COLUMN limits jsonb;
ALTER TABLE keygate_keys ADD COLUMN limits jsonb;

-- A key's limits changed are announced like its other facts (every UPDATE of a user already is).
DROP TRIGGER keygate_keys_announce_update ON keygate_keys;
CREATE TRIGGER keygate_keys_announce_update AFTER UPDATE ON keygate_keys
  FOR EACH ROW WHEN ((OLD.user_id, OLD.hash, OLD.scopes, OLD.expires_at, OLD.revoked_at, OLD.actor_id, OLD.limits)
    IS DISTINCT FROM (NEW.user_id, NEW.hash, NEW.scopes, NEW.expires_at, NEW.revoked_at, NEW.actor_id, NEW.limits))
  EXECUTE FUNCTION keygate_announce_key();
