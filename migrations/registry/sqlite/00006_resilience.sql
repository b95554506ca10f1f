-- A service's upstream timeout and retries (registry.Resilience), as the
-- instance registered them; NULL: the gateway's defaults.
ALTER TABLE services ADD COLUMN resilience TEXT CHECK (resilience IS NULL OR json_type(resilience) = 'object');
