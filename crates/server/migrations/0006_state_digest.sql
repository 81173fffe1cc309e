-- The digest of the state each host last pushed: its listeners, findings,
-- lifecycle and ledger checkpoint (push.rs, `state_digest`). A push that
-- repeats it writes none of them again. NULL before a host's first push,
-- and for hosts stored before this version, whose next push writes as
-- before. Portable SQL, as 0001.
ALTER TABLE hosts ADD COLUMN state_digest TEXT;
