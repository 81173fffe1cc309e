-- Enrollment and pushes: each host's key and standing, an enroll token's
-- use limit, and what hosts push. Portable SQL, as 0001.

-- NULL for tokens of other roles (and for none that enroll: 0 is used up).
ALTER TABLE api_tokens ADD COLUMN uses_left BIGINT;
-- Enroll tokens made before the limit existed get the default, one use.
UPDATE api_tokens SET uses_left = 1 WHERE role = 'enroll';

-- Base64 of the host's Ed25519 public key.
ALTER TABLE hosts ADD COLUMN public_key TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN revoked_at BIGINT;
-- The seq of the last push stored; NULL before the first.
ALTER TABLE hosts ADD COLUMN last_seq BIGINT;
-- 1 once a ledger checkpoint went backwards or forked; never reset.
ALTER TABLE hosts ADD COLUMN ledger_inconsistent BIGINT NOT NULL DEFAULT 0;

-- Each host's listeners as of its last push (replaced by each push).
CREATE TABLE host_listeners (
    host_id TEXT NOT NULL REFERENCES hosts (id),
    protocol TEXT NOT NULL,
    address TEXT NOT NULL,
    port BIGINT NOT NULL,
    process TEXT,
    pid BIGINT
);
CREATE INDEX host_listeners_by_host ON host_listeners (host_id);

-- Each host's findings as of its last push (replaced by each push).
CREATE TABLE host_findings (
    host_id TEXT NOT NULL REFERENCES hosts (id),
    code TEXT NOT NULL,
    severity TEXT NOT NULL,
    port BIGINT,
    message TEXT NOT NULL
);
CREATE INDEX host_findings_by_host ON host_findings (host_id);

-- Drift events, appended: the push's seq and the event's place in it order
-- them without a sequence type.
CREATE TABLE drift_events (
    host_id TEXT NOT NULL REFERENCES hosts (id),
    seq BIGINT NOT NULL,
    position BIGINT NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    protocol TEXT NOT NULL,
    address TEXT NOT NULL,
    port BIGINT NOT NULL,
    process TEXT,
    PRIMARY KEY (host_id, seq, position)
);

-- Ledger checkpoints, appended: one per push that carried one.
CREATE TABLE ledger_checkpoints (
    host_id TEXT NOT NULL REFERENCES hosts (id),
    seq BIGINT NOT NULL,
    ledger_index BIGINT NOT NULL,
    head TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    consistent BIGINT NOT NULL,
    PRIMARY KEY (host_id, seq)
);
