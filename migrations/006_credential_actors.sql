-- The actor of a credential: the parent account that minted a key or session
-- for its child, or while acting as it (RFC 8693 `act`). NULL: the owner's own
-- credential. The policy re-checks the actor at every use (still active, still
-- the owner's parent, not restricted from impersonation), so the actor is part
-- of the credential for good: it is set at creation and never changes.
-- Plain SQL run on PostgreSQL and on PGlite alike; never edit once shipped.

ALTER TABLE keygate_keys ADD COLUMN actor_id text COLLATE "C" REFERENCES keygate_users (id)
  CHECK (actor_id <> user_id);
ALTER TABLE keygate_sessions ADD COLUMN actor_id text REFERENCES keygate_users (id)
  CHECK (actor_id <> user_id);

-- What an actor minted (and the foreign key's checks when an account row is deleted by hand).
CREATE INDEX keygate_keys_actor ON keygate_keys (actor_id) WHERE actor_id IS NOT NULL;
CREATE INDEX keygate_sessions_actor ON keygate_sessions (actor_id) WHERE actor_id IS NOT NULL;

-- A key's actor changed by hand in SQL is announced like its other facts.
DROP TRIGGER keygate_keys_announce_update ON keygate_keys;
CREATE TRIGGER keygate_keys_announce_update AFTER UPDATE ON keygate_keys
  FOR EACH ROW WHEN ((OLD.user_id, OLD.hash, OLD.scopes, OLD.expires_at, OLD.revoked_at, OLD.actor_id)
    IS DISTINCT FROM (NEW.user_id, NEW.hash, NEW.scopes, NEW.expires_at, NEW.revoked_at, NEW.actor_id))
  EXECUTE FUNCTION keygate_announce_key();
