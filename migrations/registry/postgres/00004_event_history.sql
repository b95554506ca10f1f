-- The console reads one instance's recent events (its health history).
CREATE INDEX registry_events_service_idx ON registry_events (service_id, revision);
