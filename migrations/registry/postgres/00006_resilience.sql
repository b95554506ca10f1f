-- A service's upstream timeout and retries (registry.Resilience), as the
-- instance registered them; NULL: the gateway's defaults.
ALTER TABLE services ADD COLUMN resilience JSONB CHECK (resilience IS NULL OR jsonb_typeof(resilience) = 'object');
