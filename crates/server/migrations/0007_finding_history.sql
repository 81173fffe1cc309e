-- What the fleet report needs beyond the latest counts: each finding's
-- remediation and each listener's container as pushed (NULL from an older
-- agent, and for rows stored before this version), and the history of
-- each host's findings counted by severity. Portable SQL, as 0001.
ALTER TABLE host_findings ADD COLUMN remediation TEXT;
ALTER TABLE host_listeners ADD COLUMN container TEXT;

-- One row per stored push whose findings' counts differ from the host's
-- row before (push.rs, `append_counts`): a host whose findings stand still
-- adds nothing however often it pushes. A host's counts at a time are
-- those of its last row at or before it.
CREATE TABLE finding_counts (
    host_id TEXT NOT NULL REFERENCES hosts (id),
    -- Unix seconds: when the server stored the push.
    at BIGINT NOT NULL,
    -- The push's seq, which orders a host's rows of the same second.
    seq BIGINT NOT NULL,
    critical BIGINT NOT NULL,
    high BIGINT NOT NULL,
    medium BIGINT NOT NULL,
    low BIGINT NOT NULL,
    info BIGINT NOT NULL,
    PRIMARY KEY (host_id, seq)
);
CREATE INDEX finding_counts_by_time ON finding_counts (at);

-- Each host that pushed before this version starts its history with the
-- counts it holds, as of its last push.
INSERT INTO finding_counts (host_id, at, seq, critical, high, medium, low, info)
SELECT h.id, h.last_seen_at, h.last_seq,
    (SELECT COUNT(*) FROM host_findings f WHERE f.host_id = h.id AND f.severity = 'critical'),
    (SELECT COUNT(*) FROM host_findings f WHERE f.host_id = h.id AND f.severity = 'high'),
    (SELECT COUNT(*) FROM host_findings f WHERE f.host_id = h.id AND f.severity = 'medium'),
    (SELECT COUNT(*) FROM host_findings f WHERE f.host_id = h.id AND f.severity = 'low'),
    (SELECT COUNT(*) FROM host_findings f WHERE f.host_id = h.id AND f.severity = 'info')
FROM hosts h
WHERE h.last_seq IS NOT NULL AND h.last_seen_at IS NOT NULL;
