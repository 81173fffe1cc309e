//! UDP scanning (being written).
