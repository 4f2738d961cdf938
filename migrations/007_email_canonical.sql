-- E-mail addresses get one canonical form, computed by the application
-- (canonicalEmail in src/lib/email.ts: ASCII A-Z lower-cased, every other
-- character kept) and stored beside the address as given, for storing and
-- matching alike. The generated column it replaces, lower(btrim(email)),
-- folded non-ASCII letters onto ASCII ones (U+212A KELVIN SIGN onto "k",
-- U+0130 onto "i" in most locales), so a look-alike address named the account
-- of the ASCII one. The grammar is the application's too (isEmail, checked by
-- the store): the looser CHECK of 001 goes.
-- Plain SQL run on PostgreSQL and on PGlite alike; never edit once shipped.

ALTER TABLE keygate_users ADD COLUMN email_canonical text;
-- canonicalEmail, once, for the rows already there.
UPDATE keygate_users SET email_canonical = translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');
ALTER TABLE keygate_users ALTER COLUMN email_canonical SET NOT NULL;

-- Its indexes go with it.
ALTER TABLE keygate_users DROP COLUMN email_normalized;
ALTER TABLE keygate_users DROP CONSTRAINT keygate_users_email_check;

-- The same indexes, on the canonical form. Equal canonical forms were equal
-- lower(btrim()) forms, so no live rows can collide here.
CREATE UNIQUE INDEX keygate_users_top_level_email_key ON keygate_users (email_canonical)
  WHERE parent_id IS NULL AND deleted_at IS NULL;
CREATE UNIQUE INDEX keygate_users_child_email_key ON keygate_users (parent_id, email_canonical)
  WHERE parent_id IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX keygate_users_child_email ON keygate_users (parent_id, email_canonical);
