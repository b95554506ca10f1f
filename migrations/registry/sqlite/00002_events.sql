-- The change feed: every change to an instance appends one event whose
-- revision comes from a single counter row. Updating that row locks it until
-- the writer commits, so revisions are assigned in commit order and a reader
-- never sees revision N+1 before N.
CREATE TABLE registry_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO registry_revision (id, revision) VALUES (1, 0);

CREATE TABLE registry_events (
    revision   BIGINT PRIMARY KEY,
    type       TEXT NOT NULL,
    service_id TEXT NOT NULL,
    instance   TEXT NOT NULL,
    created_at TEXT NOT NULL
);
