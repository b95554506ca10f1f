-- Core's change feed (internal/corefeed): every change a gateway decision
-- depends on, appended in the transaction that makes it. The single row of
-- core_revision is incremented in that transaction (UPDATE … RETURNING),
-- which serialises writers, so that revision order is commit order and
-- revisions have no gaps. Events older than the retention are pruned from
-- the oldest up. payload holds the kind's other fields (services, the
-- configuration entry's address and version) as JSON text; value the
-- configuration entry's JSON value, as TEXT so that it is kept byte for
-- byte (NULL for none).
CREATE TABLE core_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO core_revision (id, revision) VALUES (1, 0);

CREATE TABLE core_changes (
    revision   BIGINT PRIMARY KEY,
    kind       TEXT NOT NULL,
    at         TEXT NOT NULL,
    tenant_id  TEXT NOT NULL DEFAULT '',
    user_id    TEXT NOT NULL DEFAULT '',
    session_id TEXT NOT NULL DEFAULT '',
    key_id     TEXT NOT NULL DEFAULT '',
    payload    TEXT NOT NULL DEFAULT '{}',
    value      TEXT
);
CREATE INDEX core_changes_at_idx ON core_changes (at);
