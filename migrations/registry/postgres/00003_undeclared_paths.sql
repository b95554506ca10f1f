-- What the gateway does with a request to a path the service did not
-- declare among its endpoints: admit any authenticated caller (never with
-- less than the strictest declared rule that could match), or deny.
ALTER TABLE services ADD COLUMN undeclared_paths TEXT NOT NULL DEFAULT 'authenticated'
    CHECK (undeclared_paths IN ('authenticated', 'deny'));
