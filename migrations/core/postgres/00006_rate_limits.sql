-- Rate-limit quotas (issue 16): a tenant's, set by a super_admin, and an
-- API key's, set when it is created; registry.RateLimit's JSON shape
-- ({"requests", "per", "burst", "key"}), NULL for none. core checks the
-- shape; the gateways enforce them (plugboard_rate_limit).
ALTER TABLE tenants ADD COLUMN rate_limit JSONB CHECK (rate_limit IS NULL OR jsonb_typeof(rate_limit) = 'object');
ALTER TABLE api_keys ADD COLUMN rate_limit JSONB CHECK (rate_limit IS NULL OR jsonb_typeof(rate_limit) = 'object');
