-- Registry schema: one row per registered instance, and its endpoints.
CREATE TABLE services (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    display_name     TEXT NOT NULL DEFAULT '',
    version          TEXT NOT NULL DEFAULT '',
    host             TEXT NOT NULL,
    port             INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    base_path        TEXT NOT NULL DEFAULT '',
    is_active        BOOLEAN NOT NULL DEFAULT TRUE,
    health           TEXT NOT NULL DEFAULT 'unknown' CHECK (health IN ('unknown', 'healthy', 'unhealthy')),
    health_check_url TEXT NOT NULL DEFAULT '',
    last_heartbeat   TIMESTAMPTZ NOT NULL,
    metadata         JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    tags             JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(tags) = 'array'),
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (name, host, port)
);
CREATE INDEX services_name_idx ON services (name);

CREATE TABLE service_endpoints (
    id             TEXT PRIMARY KEY,
    service_id     TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    position       INTEGER NOT NULL,
    path           TEXT NOT NULL,
    method         TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    required_roles JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(required_roles) = 'array'),
    is_public      BOOLEAN NOT NULL DEFAULT FALSE,
    rate_limit     JSONB,
    UNIQUE (service_id, method, path)
);
CREATE INDEX service_endpoints_service_idx ON service_endpoints (service_id, position);
