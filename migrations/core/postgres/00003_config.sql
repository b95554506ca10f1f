-- Configuration center: one row per (scope, service, key) holding the
-- current version, and every version ever written in config_versions.
-- scope is '' for the global configuration or a tenant id (not a foreign
-- key, since '' names no tenant; the store checks the tenant exists).
-- value is the JSON text exactly as the client sent it, byte for byte:
-- TEXT, not JSONB, which would reorder keys and rewrite numbers and
-- whitespace. A delete is a version too: the entry row stays with
-- deleted = TRUE and value 'null', so history survives and a later write
-- continues the numbering.
CREATE TABLE config_entries (
    id         TEXT PRIMARY KEY,
    scope      TEXT NOT NULL,
    service    TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    version    INTEGER NOT NULL CHECK (version >= 1),
    deleted    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    updated_by TEXT NOT NULL DEFAULT '',
    UNIQUE (scope, service, key)
);

CREATE TABLE config_versions (
    entry_id    TEXT NOT NULL REFERENCES config_entries (id) ON DELETE CASCADE,
    version     INTEGER NOT NULL CHECK (version >= 1),
    value       TEXT NOT NULL,
    deleted     BOOLEAN NOT NULL DEFAULT FALSE,
    author_id   TEXT NOT NULL DEFAULT '',
    author_name TEXT NOT NULL DEFAULT '',
    comment     TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (entry_id, version)
);
