//! The lock-out guard: a ruleset that would cut the operator's own way in is
//! refused before it reaches the kernel.
//!
//! Two paths are protected: the SSH session the command runs in (from
//! `$SSH_CONNECTION`), and, when the policy names one, every network of the
//! management zone on the SSH port.

use std::net::IpAddr;

use ipnet::IpNet;
use portreeve_core::Proto;

use crate::ruleset::Ruleset;
use crate::verdict::Verdict;

/// A management path the ruleset would cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lockout {
    /// The source that would lose access.
    pub source: IpNet,
    /// The TCP port it would lose.
    pub port: u16,
    /// Where the path comes from (`your SSH session`, `management zone …`).
    pub why: String,
    /// What the ruleset would do instead.
    pub verdict: Verdict,
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
pub fn lockouts(ruleset: &Ruleset, session: Option<(IpAddr, u16)>) -> Vec<Lockout> {
    let mut out = Vec::new();
    if let Some((client, port)) = session
        && !client.is_loopback()
    {
        let verdict = ruleset.verdict(client, Proto::Tcp, port);
        if verdict != Verdict::Accepted {
            out.push(Lockout {
                source: IpNet::from(client),
                port,
                why: "your SSH session ($SSH_CONNECTION)".into(),
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
    out
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
        let session = Some(("198.51.100.7".parse().unwrap(), 22));
        let found = lockouts(&closed, session);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].why.contains("SSH session"));
        assert!(found[1].why.contains("mgmt"));

        let open =
            ruleset("[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"mgmt\", \"office\"]\n");
        assert!(lockouts(&open, session).is_empty());
        let from_loopback = lockouts(&closed, Some(("127.0.0.1".parse().unwrap(), 22)));
        assert!(
            from_loopback.iter().all(|l| !l.why.contains("SSH session")),
            "loopback is safe"
        );
    }

    #[test]
    fn a_session_on_a_banned_port_is_reported_as_banned() {
        let r = ruleset("[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"mgmt\"]\n");
        let found = lockouts(&r, Some(("192.0.2.9".parse().unwrap(), 23)));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].verdict, Verdict::Banned);
    }
}
