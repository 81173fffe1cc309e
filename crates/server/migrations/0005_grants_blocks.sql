-- Each host's grants and blocks as of the last push that carried them
-- (replaced by each such push). Portable SQL, as 0001.
CREATE TABLE host_grants (
    host_id TEXT NOT NULL REFERENCES hosts (id),
    -- The address or network let in, as text.
    source TEXT NOT NULL,
    protocol TEXT NOT NULL,
    port BIGINT NOT NULL,
    -- Unix seconds: when the host's kernel drops it.
    expires_at BIGINT NOT NULL,
    actor TEXT,
    rule TEXT,
    reason TEXT
);
CREATE INDEX host_grants_by_host ON host_grants (host_id);

CREATE TABLE host_blocks (
    host_id TEXT NOT NULL REFERENCES hosts (id),
    -- The blocked address or network, as text.
    source TEXT NOT NULL,
    -- 1: the kernel's scan detection; 0: `portreeve block`.
    automatic BIGINT NOT NULL,
    -- Unix seconds: when the host's kernel lifts it.
    until_at BIGINT NOT NULL,
    actor TEXT,
    reason TEXT
);
CREATE INDEX host_blocks_by_host ON host_blocks (host_id);
