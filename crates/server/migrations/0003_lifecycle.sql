-- Each host's ports and their lifecycle states as of the last push that
-- carried them (replaced by each such push). Portable SQL, as 0001.
CREATE TABLE host_lifecycle (
    host_id TEXT NOT NULL REFERENCES hosts (id),
    port BIGINT NOT NULL,
    protocol TEXT NOT NULL,
    state TEXT NOT NULL,
    -- Unix seconds; NULL when the agent never saw the port used.
    last_used BIGINT
);
CREATE INDEX host_lifecycle_by_host ON host_lifecycle (host_id);

-- The fleet-wide drift listing reads newest first across hosts.
CREATE INDEX drift_events_by_time ON drift_events (at);
