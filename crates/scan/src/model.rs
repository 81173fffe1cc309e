//! What a scan finds: port states with nmap's meanings, and what answers.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use portreeve_core::Proto;
use serde::{Deserialize, Serialize};

/// A port's state, with the meaning nmap gives it, so results compare with
/// nmap's one to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortState {
    /// Something accepts connections (TCP) or answered (UDP).
    Open,
    /// Reachable, but nothing listens: a TCP reset, or ICMP port unreachable
    /// for UDP.
    Closed,
    /// No answer after every retry, or an ICMP unreachable other than
    /// port-unreachable: something drops or blocks the probes.
    Filtered,
    /// UDP only: no answer, which an open service that ignores the probe
    /// and a filter look the same.
    #[serde(rename = "open|filtered")]
    OpenFiltered,
}

impl PortState {
    /// nmap's name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
            PortState::OpenFiltered => "open|filtered",
        }
    }
}

impl fmt::Display for PortState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a port got its state, in nmap's vocabulary (`syn-ack`, `conn-refused`,
/// `no-response`, `host-unreach`, `udp-response`, `port-unreach`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// TCP handshake completed.
    SynAck,
    /// TCP reset.
    ConnRefused,
    /// Nothing came back.
    NoResponse,
    /// ICMP host unreachable.
    HostUnreach,
    /// ICMP network unreachable.
    NetUnreach,
    /// ICMP administratively prohibited.
    AdminProhibited,
    /// A UDP reply.
    UdpResponse,
    /// ICMP port unreachable.
    PortUnreach,
}

impl Reason {
    /// nmap's name for the reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SynAck => "syn-ack",
            Reason::ConnRefused => "conn-refused",
            Reason::NoResponse => "no-response",
            Reason::HostUnreach => "host-unreach",
            Reason::NetUnreach => "net-unreach",
            Reason::AdminProhibited => "admin-prohibited",
            Reason::UdpResponse => "udp-response",
            Reason::PortUnreach => "port-unreach",
        }
    }
}

/// What answers on an open port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// Service name, e.g. `http`, `ssh`, `redis` (nmap's service names where
    /// they exist).
    pub name: String,
    /// Product, e.g. `nginx`, `OpenSSH`.
    pub product: Option<String>,
    /// Product version.
    pub version: Option<String>,
    /// Free-form detail: HTTP title, TLS subject, server greeting.
    pub extra: Option<String>,
    /// CPE 2.3 name, when the product is known.
    pub cpe: Option<String>,
    /// Whether the service answered a data request without credentials
    /// (`Some(true)`: open to anyone who reaches it). `None` when not tested.
    pub unauthenticated: Option<bool>,
    /// TLS details, when the service speaks TLS.
    pub tls: Option<TlsInfo>,
    /// How it was identified: `banner`, `probe:http`, `port` (a guess from
    /// the port number alone, [`ServiceInfo::GUESS`]), or `hangup` (every
    /// connection was closed before the service said anything: nmap's
    /// `tcpwrapped`, [`ServiceInfo::HANG_UP`]).
    pub method: String,
    /// How sure the name is, on nmap's scale of 0 to 10: nmap writes
    /// `conf="10"` for a service its probes matched and `conf="3"` for a
    /// name from its port table; portreeve rates its own findings the same
    /// way ([`ServiceInfo::CONF_IDENTIFIED`], [`ServiceInfo::CONF_GUESS`]),
    /// and keeps what an imported nmap document says.
    #[serde(default)]
    pub conf: u8,
}

impl ServiceInfo {
    /// The `method` of a name that comes from the port number alone.
    pub const GUESS: &'static str = "port";
    /// The confidence of a name the service's own answer gave.
    pub const CONF_IDENTIFIED: u8 = 10;
    /// The confidence of a name that comes from the port number alone.
    pub const CONF_GUESS: u8 = 3;
    /// The `method` of `tcpwrapped`: the port accepted every connection
    /// and closed it before a word was said.
    pub const HANG_UP: &'static str = "hangup";
    /// The confidence of `tcpwrapped`, as nmap rates it.
    pub const CONF_HANG_UP: u8 = 8;

    /// Whether the name is only the port number's usual service: nothing
    /// that answered said so.
    pub fn is_guess(&self) -> bool {
        self.method == Self::GUESS
    }

    /// The confidence `method` deserves: a guess from the port number, a
    /// port that only hangs up, or an identification from what the service
    /// sent.
    pub fn conf_for(method: &str) -> u8 {
        match method {
            Self::GUESS => Self::CONF_GUESS,
            Self::HANG_UP => Self::CONF_HANG_UP,
            _ => Self::CONF_IDENTIFIED,
        }
    }

    /// The name as nmap prints it in its tables: a guess from the port
    /// number ends in `?` (`kafka?`), so it does not read as found.
    pub fn shown_name(&self) -> String {
        if self.is_guess() {
            format!("{}?", self.name)
        } else {
            self.name.clone()
        }
    }
}

/// What a TLS handshake revealed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsInfo {
    /// Negotiated version, e.g. `TLSv1.3`.
    pub version: String,
    /// Negotiated ALPN protocol.
    pub alpn: Option<String>,
    /// Certificate subject.
    pub subject: Option<String>,
    /// Certificate issuer.
    pub issuer: Option<String>,
    /// Certificate expiry (RFC 3339).
    pub not_after: Option<String>,
}

/// One scanned port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortResult {
    /// The target address.
    pub address: IpAddr,
    /// The name the target was given as, if any.
    pub hostname: Option<String>,
    /// Protocol.
    pub protocol: Proto,
    /// Port.
    pub port: u16,
    /// State.
    pub state: PortState,
    /// Why.
    pub reason: Reason,
    /// Round-trip time of the answer that decided, in microseconds.
    pub rtt_us: Option<u64>,
    /// What answers, when identified.
    pub service: Option<ServiceInfo>,
}

impl PortResult {
    /// The RTT as a duration.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt_us.map(Duration::from_micros)
    }
}

/// How ports were probed, as nmap names scan types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanKind {
    /// TCP connect (`-sT`).
    Connect,
    /// TCP SYN with raw sockets (`-sS`).
    Syn,
    /// UDP (`-sU`).
    Udp,
}

impl ScanKind {
    /// nmap's name, as in the XML `scaninfo` element.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanKind::Connect => "connect",
            ScanKind::Syn => "syn",
            ScanKind::Udp => "udp",
        }
    }

    /// The protocol the scan type probes.
    pub fn protocol(self) -> Proto {
        match self {
            ScanKind::Connect | ScanKind::Syn => Proto::Tcp,
            ScanKind::Udp => Proto::Udp,
        }
    }
}

/// Every port of one host, in every state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostResult {
    /// The address.
    pub address: IpAddr,
    /// The name it was given as, if any.
    pub hostname: Option<String>,
    /// Every scanned port, sorted by protocol and port.
    pub ports: Vec<PortResult>,
}

/// A whole scan: what was asked, when, and what every host answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanRun {
    /// The scanner that produced it (`portreeve`, or `nmap` for an import).
    pub scanner: String,
    /// Its version.
    pub version: String,
    /// The command line, as given.
    pub args: String,
    /// When it started.
    pub started: jiff::Timestamp,
    /// When it finished.
    pub finished: jiff::Timestamp,
    /// The scan types and the ports each probed.
    pub scans: Vec<(ScanKind, Vec<u16>)>,
    /// The hosts, in target order.
    pub hosts: Vec<HostResult>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_number_guess_reads_as_one() {
        let guess = ServiceInfo {
            name: "kafka".into(),
            method: ServiceInfo::GUESS.into(),
            conf: ServiceInfo::conf_for(ServiceInfo::GUESS),
            ..ServiceInfo::default()
        };
        assert_eq!((guess.shown_name(), guess.conf), ("kafka?".into(), 3));
        let found = ServiceInfo {
            name: "ssh".into(),
            method: "banner".into(),
            conf: ServiceInfo::conf_for("banner"),
            ..ServiceInfo::default()
        };
        assert_eq!((found.shown_name(), found.conf), ("ssh".into(), 10));
        assert_eq!(ServiceInfo::conf_for(ServiceInfo::HANG_UP), 8);
        // A document written before `conf` existed still reads.
        let old: ServiceInfo = serde_json::from_str(
            r#"{"name":"http","product":null,"version":null,"extra":null,"cpe":null,
                "unauthenticated":null,"tls":null,"method":"port"}"#,
        )
        .unwrap();
        assert_eq!(old.conf, 0);
    }
}
