-- Fleet policy: versions proposed and approved, their assignment to hosts
-- and groups, hosts' groups, and what each host last reported applying.
-- Portable SQL, as 0001: TEXT and BIGINT, times as Unix seconds.

-- One row a version; versions count from 1 per name.
CREATE TABLE policy_versions (
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    -- `sha256:<hex>` of text.
    sha256 TEXT NOT NULL,
    text TEXT NOT NULL,
    proposer TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Set, with the server's signature, when the last approval needed arrived.
    approved_at BIGINT,
    signature TEXT,
    PRIMARY KEY (name, version)
);

-- Each principal approves a version at most once; never its proposer.
CREATE TABLE policy_approvals (
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    approver TEXT NOT NULL,
    approved_at BIGINT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (name, version, approver),
    FOREIGN KEY (name, version) REFERENCES policy_versions (name, version)
);

-- What is assigned to a host (target_kind 'host', target its id) or a
-- group ('group', its name). version NULL: the latest approved version.
CREATE TABLE policy_assignments (
    target_kind TEXT NOT NULL,
    target TEXT NOT NULL,
    policy TEXT NOT NULL,
    version BIGINT,
    assigned_at BIGINT NOT NULL,
    assigned_by TEXT NOT NULL,
    PRIMARY KEY (target_kind, target)
);

-- The groups a host is in.
CREATE TABLE host_groups (
    host_id TEXT NOT NULL REFERENCES hosts (id),
    group_name TEXT NOT NULL,
    PRIMARY KEY (host_id, group_name)
);

-- The latest fleet policy state each host pushed.
CREATE TABLE host_applied_policies (
    host_id TEXT PRIMARY KEY REFERENCES hosts (id),
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    generation BIGINT,
    state TEXT NOT NULL,
    message TEXT,
    at BIGINT NOT NULL
);
