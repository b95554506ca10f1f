-- Core schema: tenants, their users and their API keys.
CREATE TABLE tenants (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    display_name     TEXT NOT NULL DEFAULT '',
    config           JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
    enabled_services JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(enabled_services) = 'array'),
    is_active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
    username        TEXT NOT NULL,
    email           TEXT NOT NULL DEFAULT '',
    hashed_password TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('super_admin', 'tenant_admin', 'user')),
    is_active       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    last_login      TIMESTAMPTZ,
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
    scopes     JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(scopes) = 'array'),
    expires_at TIMESTAMPTZ,
    last_used  TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, name)
);
