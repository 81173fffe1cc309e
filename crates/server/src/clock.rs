//! The server's time: Unix seconds, as the schema stores it (portable
//! BIGINT rather than either database's timestamp type).

/// Now, in Unix seconds.
pub fn unix_now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// `seconds` as an RFC 3339 time, for JSON and tables.
pub fn rfc3339(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds).map_or_else(|_| seconds.to_string(), |t| t.to_string())
}
