-- Keygate only soft-deletes, but rows deleted by hand must not linger in any
-- instance's cache: announce them on the same channels as every other change.
-- Plain SQL run on PostgreSQL and on PGlite alike; never edit once shipped.

CREATE FUNCTION keygate_announce_user_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('keygate_changes', json_build_object('type', 'user', 'id', OLD.id, 'parentId', OLD.parent_id)::text);
  RETURN NULL;
END $$;

CREATE FUNCTION keygate_announce_key_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('keygate_changes',
    json_build_object('type', 'key', 'id', OLD.id, 'userId', OLD.user_id, 'hash', encode(OLD.hash, 'hex'))::text);
  RETURN NULL;
END $$;

CREATE FUNCTION keygate_announce_session_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('keygate_sessions', OLD.id);
  RETURN NULL;
END $$;

CREATE TRIGGER keygate_users_announce_delete AFTER DELETE ON keygate_users
  FOR EACH ROW EXECUTE FUNCTION keygate_announce_user_deleted();
CREATE TRIGGER keygate_keys_announce_delete AFTER DELETE ON keygate_keys
  FOR EACH ROW EXECUTE FUNCTION keygate_announce_key_deleted();
CREATE TRIGGER keygate_sessions_announce_delete AFTER DELETE ON keygate_sessions
  FOR EACH ROW EXECUTE FUNCTION keygate_announce_session_deleted();
