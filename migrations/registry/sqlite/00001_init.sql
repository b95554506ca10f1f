-- Registry schema: one row per registered instance, and its endpoints.
-- Timestamps are fixed-width RFC 3339 UTC text; JSON columns are checked text.
CREATE TABLE services (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    display_name     TEXT NOT NULL DEFAULT '',
    version          TEXT NOT NULL DEFAULT '',
    host             TEXT NOT NULL,
    port             INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    base_path        TEXT NOT NULL DEFAULT '',
    is_active        INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    health           TEXT NOT NULL DEFAULT 'unknown' CHECK (health IN ('unknown', 'healthy', 'unhealthy')),
    health_check_url TEXT NOT NULL DEFAULT '',
    last_heartbeat   TEXT NOT NULL,
    metadata         TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata) AND json_type(metadata) = 'object'),
    tags             TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags) AND json_type(tags) = 'array'),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
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
    required_roles TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(required_roles) AND json_type(required_roles) = 'array'),
    is_public      INTEGER NOT NULL DEFAULT 0 CHECK (is_public IN (0, 1)),
    rate_limit     TEXT CHECK (rate_limit IS NULL OR json_valid(rate_limit)),
    UNIQUE (service_id, method, path)
);
CREATE INDEX service_endpoints_service_idx ON service_endpoints (service_id, position);
