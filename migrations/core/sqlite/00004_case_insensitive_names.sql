-- Usernames and tenant names become case-insensitive (issue 11, finding
-- 19): they are stored with ASCII letters lower-cased, as core now stores
-- new ones. Rows that would then collide (Alice and alice in one tenant)
-- stop the migration, named in the error: rename or delete all but one of
-- each (with an older core, or SQL), then start again.
CREATE TEMP TABLE migration_00004_check (message TEXT);
CREATE TEMP TRIGGER migration_00004_refuse BEFORE INSERT ON migration_00004_check
BEGIN
    SELECT RAISE(ABORT, 'names must become case-insensitive, but these differ only in case; rename or delete all but one of each, then start again: ' || NEW.message);
END;
INSERT INTO migration_00004_check (message)
SELECT message FROM (
    SELECT group_concat(item, '; ') AS message FROM (
        SELECT 'tenants ' || group_concat('"' || name || '" (' || id || ')', ', ') AS item
        FROM tenants GROUP BY lower(name) HAVING count(*) > 1
        UNION ALL
        SELECT 'users of tenant "' || (SELECT t.name FROM tenants t WHERE t.id = u.tenant_id) || '" '
            || group_concat('"' || u.username || '" (' || u.id || ')', ', ')
        FROM users u GROUP BY u.tenant_id, lower(u.username) HAVING count(*) > 1
    )
) WHERE message IS NOT NULL;
DROP TRIGGER migration_00004_refuse;
DROP TABLE migration_00004_check;

-- SQLite's lower() folds ASCII letters only, as core.NormalizeHandle does.
UPDATE tenants SET name = lower(name) WHERE name <> lower(name);
UPDATE users SET username = lower(username) WHERE username <> lower(username);
