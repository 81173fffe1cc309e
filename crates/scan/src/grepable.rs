//! Greppable output (being written).
