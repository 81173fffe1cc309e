//! Service identification (being written).
