-- Core schema: tenants, their users and their API keys.
-- Timestamps are fixed-width RFC 3339 UTC text; JSON columns are checked text.
CREATE TABLE tenants (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    display_name     TEXT NOT NULL DEFAULT '',
    config           TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(config) AND json_type(config) = 'object'),
    enabled_services TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(enabled_services) AND json_type(enabled_services) = 'array'),
    is_active        INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
    username        TEXT NOT NULL,
    email           TEXT NOT NULL DEFAULT '',
    hashed_password TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('super_admin', 'tenant_admin', 'user')),
    is_active       INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    last_login      TEXT,
    UNIQUE (tenant_id, username)
);
CREATE UNIQUE INDEX users_tenant_email_idx ON users (tenant_id, lower(email)) WHERE email <> '';

-- key_hash is the SHA-256 of the secret; the secret itself is shown once.
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id    TEXT REFERENCES users (id) ON DELETE SET NULL,
    name       TEXT NOT NULL,
    prefix     TEXT NOT NULL UNIQUE,
    key_hash   TEXT NOT NULL UNIQUE,
    scopes     TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(scopes) AND json_type(scopes) = 'array'),
    expires_at TEXT,
    last_used  TEXT,
    revoked_at TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);
