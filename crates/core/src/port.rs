//! Transport protocols and port ranges.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A transport protocol portreeve governs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP: listening sockets.
    Tcp,
    /// UDP: bound, unconnected sockets.
    Udp,
}

impl Proto {
    /// Both protocols, in display order.
    pub const ALL: [Proto; 2] = [Proto::Tcp, Proto::Udp];

    /// The lower-case name used in policies, JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol name that is neither `tcp` nor `udp`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown protocol `{0}`: expected `tcp` or `udp`")]
pub struct ProtoParseError(pub String);

impl FromStr for Proto {
    type Err = ProtoParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            _ => Err(ProtoParseError(s.to_string())),
        }
    }
}

/// An inclusive range of ports, `start..=end`, both within 1–65535.
///
/// Port 0 is not a port a service listens on (it asks the kernel to pick one),
/// so a range never contains it. A single port is a range of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    start: u16,
    end: u16,
}

/// Why a port or port range is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortRangeError {
    /// Port 0, or a number above 65535.
    #[error("port {0} is out of range: ports are 1-65535")]
    OutOfRange(i64),
    /// The range runs backwards.
    #[error("port range {0}-{1} is reversed: the first port must not exceed the second")]
    Reversed(u16, u16),
    /// Not a number or `A-B`.
    #[error("`{0}` is not a port or port range: expected e.g. `443` or `8000-8100`")]
    Syntax(String),
}

impl PortRange {
    /// Every valid port.
    pub const ALL: PortRange = PortRange {
        start: 1,
        end: u16::MAX,
    };

    /// A range from `start` to `end`, inclusive.
    pub fn new(start: i64, end: i64) -> Result<Self, PortRangeError> {
        let start = Self::check(start)?;
        let end = Self::check(end)?;
        if start > end {
            return Err(PortRangeError::Reversed(start, end));
        }
        Ok(PortRange { start, end })
    }

    /// A range holding the single port `port`.
    pub fn single(port: i64) -> Result<Self, PortRangeError> {
        Self::new(port, port)
    }

    fn check(port: i64) -> Result<u16, PortRangeError> {
        match u16::try_from(port) {
            Ok(p) if p != 0 => Ok(p),
            _ => Err(PortRangeError::OutOfRange(port)),
        }
    }

    /// First port of the range.
    pub fn start(self) -> u16 {
        self.start
    }

    /// Last port of the range (inclusive).
    pub fn end(self) -> u16 {
        self.end
    }

    /// Number of ports in the range.
    pub fn len(self) -> u32 {
        u32::from(self.end - self.start) + 1
    }

    /// Always false: a range holds at least one port. Present because a `len`
    /// without `is_empty` surprises readers (and clippy).
    pub fn is_empty(self) -> bool {
        false
    }

    /// Whether `port` lies within the range.
    pub fn contains(self, port: u16) -> bool {
        (self.start..=self.end).contains(&port)
    }

    /// Whether the two ranges share at least one port.
    pub fn overlaps(self, other: PortRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

impl FromStr for PortRange {
    type Err = PortRangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let number = |t: &str| -> Result<i64, PortRangeError> {
            let t = t.trim();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(PortRangeError::Syntax(s.to_string()));
            }
            // Saturate absurdly long numbers so they report as out of range.
            Ok(t.parse::<i64>().unwrap_or(i64::MAX))
        };
        match s.split_once('-') {
            Some((a, b)) => PortRange::new(number(a)?, number(b)?),
            None => PortRange::single(number(s)?),
        }
    }
}

/// A single port serialises as a number, a range as `"A-B"`; both forms are
/// accepted when reading.
impl Serialize for PortRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.start == self.end {
            serializer.serialize_u16(self.start)
        } else {
            serializer.collect_str(self)
        }
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(i64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => PortRange::single(n),
            Raw::Text(t) => t.parse(),
        }
        .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_ports_and_ranges() {
        assert_eq!(
            "443".parse::<PortRange>().unwrap(),
            PortRange::single(443).unwrap()
        );
        let r: PortRange = "6000-6063".parse().unwrap();
        assert_eq!((r.start(), r.end(), r.len()), (6000, 6063, 64));
        assert_eq!(r.to_string(), "6000-6063");
        assert_eq!(PortRange::single(22).unwrap().to_string(), "22");
    }

    #[test]
    fn rejects_port_zero_out_of_range_reversed_and_garbage() {
        assert_eq!("0".parse::<PortRange>(), Err(PortRangeError::OutOfRange(0)));
        assert_eq!(
            "70000".parse::<PortRange>(),
            Err(PortRangeError::OutOfRange(70000))
        );
        assert_eq!(PortRange::new(-1, 5), Err(PortRangeError::OutOfRange(-1)));
        assert_eq!(
            "20-10".parse::<PortRange>(),
            Err(PortRangeError::Reversed(20, 10))
        );
        assert!(matches!(
            "ssh".parse::<PortRange>(),
            Err(PortRangeError::Syntax(_))
        ));
        assert!(matches!(
            "1-".parse::<PortRange>(),
            Err(PortRangeError::Syntax(_))
        ));
        assert!(matches!(
            "99999999999999999999999".parse::<PortRange>(),
            Err(PortRangeError::OutOfRange(_))
        ));
    }

    #[test]
    fn contains_and_overlaps_are_inclusive() {
        let r = PortRange::new(512, 514).unwrap();
        assert!(r.contains(512) && r.contains(514) && !r.contains(515));
        assert!(r.overlaps(PortRange::single(514).unwrap()));
        assert!(!r.overlaps(PortRange::new(515, 600).unwrap()));
        assert!(PortRange::ALL.overlaps(r));
    }

    #[test]
    fn serde_round_trip_uses_numbers_for_single_ports() {
        let ports = vec![
            PortRange::single(22).unwrap(),
            PortRange::new(1, 3).unwrap(),
        ];
        let json = serde_json::to_string(&ports).unwrap();
        assert_eq!(json, r#"[22,"1-3"]"#);
        let back: Vec<PortRange> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ports);
        assert!(serde_json::from_str::<PortRange>("0").is_err());
    }

    #[test]
    fn proto_parses_case_insensitively() {
        assert_eq!("TCP".parse::<Proto>().unwrap(), Proto::Tcp);
        assert!("sctp".parse::<Proto>().is_err());
    }
}
