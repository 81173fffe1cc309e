//! The lock-out guard: a ruleset that would cut the operator's own way in is
//! refused before it reaches the kernel.
//!
//! Three paths are protected: every live SSH session (found in the kernel
//! by whoever builds the [`SshAccess`], plus `$SSH_CONNECTION`, which `sudo`
//! strips and so cannot be the only source), every port an SSH daemon
//! listens on (a ruleset must leave it open to some source), and, when the
//! policy names one, every network of the management zone on the SSH port.
//! An overflow of any of their ports to a backup pool cuts them too
//! ([`crate::overflow`]).

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use portreeve_core::{PortRange, Proto};

use crate::ruleset::Ruleset;
use crate::verdict::Verdict;

/// A management path the ruleset would cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lockout {
    /// The source that would lose access (`0.0.0.0/0` for a port closed to
    /// every source).
    pub source: IpNet,
    /// The TCP port it would lose.
    pub port: u16,
    /// Where the path comes from (`your SSH session`, `management zone …`).
    pub why: String,
    /// What the ruleset would do instead.
    pub verdict: Verdict,
}

/// A live SSH session: the client and the local port it is connected to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshSession {
    /// The client's address.
    pub client: IpAddr,
    /// The port of this host it is connected to.
    pub port: u16,
    /// How it was found, for the refusal (`$SSH_CONNECTION`, `established
    /// connection to sshd`).
    pub found_by: String,
}

/// The SSH access a ruleset must not cut.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SshAccess {
    /// Live sessions.
    pub sessions: Vec<SshSession>,
    /// TCP ports an SSH daemon listens on, on some address other than
    /// loopback.
    pub listening: Vec<u16>,
}

/// The client address and server port of an `$SSH_CONNECTION` value
/// (`client_ip client_port server_ip server_port`).
pub fn ssh_session(ssh_connection: &str) -> Option<(IpAddr, u16)> {
    let fields: Vec<&str> = ssh_connection.split_whitespace().collect();
    match fields.as_slice() {
        [client, _, _, server_port] => Some((client.parse().ok()?, server_port.parse().ok()?)),
        _ => None,
    }
}

/// Every management path `ruleset` would cut. Loopback sessions never go
/// through the filter and are always safe.
pub fn lockouts(ruleset: &Ruleset, access: &SshAccess) -> Vec<Lockout> {
    let mut out: Vec<Lockout> = Vec::new();
    for s in access.sessions.iter().filter(|s| !s.client.is_loopback()) {
        let source = IpNet::from(s.client);
        let verdict = ruleset.verdict(s.client, Proto::Tcp, s.port);
        let reported = out.iter().any(|l| l.source == source && l.port == s.port);
        if verdict != Verdict::Accepted && !reported {
            out.push(Lockout {
                source,
                port: s.port,
                why: format!("live SSH session ({})", s.found_by),
                verdict,
            });
        }
    }
    for &port in &access.listening {
        if let Some(verdict) = closed_to_every_source(ruleset, port) {
            out.push(Lockout {
                source: IpNet::V4(Ipv4Net::default()),
                port,
                why: "an SSH daemon listens on it and no source could reach it".into(),
                verdict,
            });
        }
    }
    let e = &ruleset.enforcement;
    if let Some(zone) = e
        .management_zone
        .as_ref()
        .and_then(|name| ruleset.zones.iter().find(|z| &z.name == name))
    {
        let nets = zone
            .v4
            .iter()
            .map(|n| IpNet::V4(*n))
            .chain(zone.v6.iter().map(|n| IpNet::V6(*n)));
        for net in nets {
            let verdict = ruleset.network_verdict(net, Proto::Tcp, e.ssh_port);
            if verdict != Verdict::Accepted {
                out.push(Lockout {
                    source: net,
                    port: e.ssh_port,
                    why: format!("management zone `{}`", zone.name),
                    verdict,
                });
            }
        }
    }
    out.extend(crate::overflow::ssh_lockouts(ruleset, access));
    out
}

/// What the ruleset does to tcp/`port` when it accepts it from no source
/// at all (`None` when some source is accepted).
fn closed_to_every_source(ruleset: &Ruleset, port: u16) -> Option<Verdict> {
    if ruleset.verdict(IpAddr::V4(Ipv4Addr::UNSPECIFIED), Proto::Tcp, port) == Verdict::Banned {
        return Some(Verdict::Banned);
    }
    let opens = |protocol: Proto, ports: &PortRange| protocol == Proto::Tcp && ports.contains(port);
    let open = ruleset
        .allowed_v4
        .iter()
        .any(|a| opens(a.protocol, &a.ports))
        || ruleset
            .allowed_v6
            .iter()
            .any(|a| opens(a.protocol, &a.ports));
    (!open).then_some(Verdict::NotAllowed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use portreeve_policy::parse_policy;

    fn ruleset(extra: &str) -> Ruleset {
        let src = format!(
            "[zones]\nmgmt = [\"192.0.2.0/24\"]\noffice = [\"198.51.100.0/24\"]\n[enforce]\nmanagement_zone = \"mgmt\"\n{extra}"
        );
        Ruleset::compile(&parse_policy("t.toml", &src).unwrap()).unwrap()
    }

    fn session(client: &str, port: u16) -> SshSession {
        SshSession {
            client: client.parse().unwrap(),
            port,
            found_by: "test".into(),
        }
    }

    fn sessions(list: &[(&str, u16)]) -> SshAccess {
        SshAccess {
            sessions: list.iter().map(|&(c, p)| session(c, p)).collect(),
            listening: Vec::new(),
        }
    }

    #[test]
    fn parses_ssh_connection() {
        assert_eq!(
            ssh_session("198.51.100.7 50122 10.0.0.5 22"),
            Some(("198.51.100.7".parse().unwrap(), 22))
        );
        assert_eq!(
            ssh_session("fe80::1 1 fe80::2 2222"),
            Some(("fe80::1".parse().unwrap(), 2222))
        );
        assert_eq!(ssh_session("garbage"), None);
    }

    #[test]
    fn refuses_to_cut_the_session_or_the_management_zone() {
        let closed = ruleset("");
        let session = sessions(&[("198.51.100.7", 22)]);
        let found = lockouts(&closed, &session);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].why.contains("SSH session"));
        assert!(found[1].why.contains("mgmt"));

        let open =
            ruleset("[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"mgmt\", \"office\"]\n");
        assert!(lockouts(&open, &session).is_empty());
        let from_loopback = lockouts(&closed, &sessions(&[("127.0.0.1", 22)]));
        assert!(
            from_loopback.iter().all(|l| !l.why.contains("SSH session")),
            "loopback is safe"
        );
    }

    #[test]
    fn a_session_on_a_banned_port_is_reported_as_banned() {
        let r = ruleset("[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"mgmt\"]\n");
        let found = lockouts(&r, &sessions(&[("192.0.2.9", 23)]));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].verdict, Verdict::Banned);
    }

    #[test]
    fn names_every_live_session_it_would_cut_once() {
        let office_only =
            ruleset("[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"office\", \"mgmt\"]\n");
        let access = sessions(&[
            ("198.51.100.7", 22),
            ("203.0.113.5", 22),
            ("203.0.113.5", 22),
            ("::ffff:203.0.113.6", 2222),
        ]);
        let found = lockouts(&office_only, &access);
        let cut: Vec<(String, u16)> = found
            .iter()
            .map(|l| (l.source.to_string(), l.port))
            .collect();
        assert_eq!(
            cut,
            [
                ("203.0.113.5/32".to_string(), 22),
                ("::ffff:203.0.113.6/128".to_string(), 2222)
            ],
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .all(|l| l.why.contains("live SSH session (test)"))
        );
    }

    #[test]
    fn refuses_to_close_a_listening_ssh_port_to_every_source() {
        let listening = SshAccess {
            sessions: Vec::new(),
            listening: vec![22],
        };
        let nothing = ruleset("");
        let found: Vec<_> = lockouts(&nothing, &listening)
            .into_iter()
            .filter(|l| !l.why.contains("mgmt"))
            .collect();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].source.to_string(), "0.0.0.0/0");
        assert_eq!(found[0].verdict, Verdict::NotAllowed);
        assert!(found[0].why.contains("SSH daemon listens"));

        let some_source =
            ruleset("[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"office\", \"mgmt\"]\n");
        assert!(lockouts(&some_source, &listening).is_empty());
        let udp_only =
            ruleset("[[rule]]\nport = 22\nprotocol = \"udp\"\nzones = [\"office\", \"mgmt\"]\n");
        assert!(
            lockouts(&udp_only, &listening)
                .iter()
                .any(|l| l.why.contains("SSH daemon listens")),
            "a UDP rule does not open sshd"
        );
    }
}
