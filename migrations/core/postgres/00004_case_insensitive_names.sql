-- Usernames and tenant names become case-insensitive (issue 11, finding
-- 19): they are stored with ASCII letters lower-cased, as core now stores
-- new ones. Rows that would then collide (Alice and alice in one tenant)
-- stop the migration, named in the error: rename or delete all but one of
-- each (with an older core, or SQL), then start again.
-- translate() folds ASCII letters only, as core.NormalizeHandle does
-- (lower() would fold other scripts too, depending on the collation).
DO $$
DECLARE
    message text;
BEGIN
    SELECT string_agg(item, '; ') INTO message FROM (
        SELECT 'tenants ' || string_agg('"' || name || '" (' || id || ')', ', ') AS item
        FROM tenants
        GROUP BY translate(name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
        HAVING count(*) > 1
        UNION ALL
        SELECT 'users of tenant "' || min(t.name) || '" ' || string_agg('"' || u.username || '" (' || u.id || ')', ', ')
        FROM users u JOIN tenants t ON t.id = u.tenant_id
        GROUP BY u.tenant_id, translate(u.username, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
        HAVING count(*) > 1
    ) AS collisions;
    IF message IS NOT NULL THEN
        RAISE EXCEPTION 'names must become case-insensitive, but these differ only in case; rename or delete all but one of each, then start again: %', message;
    END IF;
END
$$;

UPDATE tenants SET name = translate(name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
WHERE name <> translate(name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');
UPDATE users SET username = translate(username, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
WHERE username <> translate(username, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');
