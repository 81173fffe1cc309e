//! UDP probe payloads (being written).
