//! What the lock-out guard protects on this host, read from the kernel
//! rather than from the environment: `sudo` strips `$SSH_CONNECTION`, so an
//! operator who applies with `sudo` would otherwise be invisible to it.
//!
//! An SSH daemon is a listening TCP socket owned by a process called
//! `sshd` or by the unit `ssh.service`/`sshd.service`; a live session is an
//! established TCP connection to one of its addresses and ports. No login
//! is needed for a connection to count: what the firewall would cut is the
//! connection, whoever is behind it.

use std::net::IpAddr;

use portreeve_core::{ListeningSocket, Proto};
use portreeve_enforce::guard::{SshAccess, SshSession};
use portreeve_inventory::TcpConnection;
use portreeve_policy::SshSeen;

use crate::error::AppError;

/// Process names of SSH daemons (`/proc/PID/comm`).
const SSH_DAEMONS: &[&str] = &["sshd"];
/// systemd units that run SSH daemons.
const SSH_UNITS: &[&str] = &["ssh.service", "sshd.service"];

/// The SSH access of the caller's network namespace: the daemons'
/// listening ports and every session connected to them.
pub fn ssh_access_here() -> Result<SshAccess, AppError> {
    let listening = portreeve_inventory::collect(portreeve_inventory::Options::default())?.sockets;
    let established = portreeve_inventory::established_tcp()?;
    Ok(access_from(&listening, &established))
}

/// [`ssh_access_here`] from sockets already read.
pub fn access_from(listening: &[ListeningSocket], established: &[TcpConnection]) -> SshAccess {
    let daemons: Vec<&ListeningSocket> = listening.iter().filter(|s| is_ssh_daemon(s)).collect();
    let mut access = SshAccess::default();
    for d in &daemons {
        if !d.address.is_loopback() && !access.listening.contains(&d.port) {
            access.listening.push(d.port);
        }
    }
    access.sessions = established
        .iter()
        .filter(|c| daemons.iter().any(|d| serves(d, c)))
        .map(|c| SshSession {
            client: c.remote.ip(),
            port: c.local.port(),
            found_by: format!("established connection from {} to sshd", c.remote),
        })
        .collect();
    access
}

/// `access` with the session `$SSH_CONNECTION` names (`session`), when the
/// environment still has it: one more source, for a session the kernel
/// read missed (another network namespace's sshd, say).
pub fn with_environment_session(
    mut access: SshAccess,
    session: Option<(IpAddr, u16)>,
) -> SshAccess {
    if let Some((client, port)) = session {
        access.sessions.push(SshSession {
            client,
            port,
            found_by: "$SSH_CONNECTION".into(),
        });
    }
    access
}

/// This namespace's SSH daemons and where their sessions come from (the
/// kernel's, and `session`, `$SSH_CONNECTION`'s), for `policy init`'s SSH
/// rule.
pub fn seen_here(session: Option<(IpAddr, u16)>) -> Result<SshSeen, AppError> {
    let access = with_environment_session(ssh_access_here()?, session);
    Ok(SshSeen {
        ports: access.listening,
        session_sources: access.sessions.iter().map(|s| s.client).collect(),
    })
}

/// Whether `socket` is an SSH daemon's, by its processes' names or units.
fn is_ssh_daemon(socket: &ListeningSocket) -> bool {
    socket.protocol == Proto::Tcp
        && socket.processes.iter().any(|p| {
            SSH_DAEMONS.contains(&p.name.as_str())
                || p.systemd_unit
                    .as_deref()
                    .is_some_and(|u| SSH_UNITS.contains(&u))
        })
}

/// Whether `connection` was accepted by the listening socket `daemon`.
fn serves(daemon: &ListeningSocket, connection: &TcpConnection) -> bool {
    daemon.port == connection.local.port()
        && (daemon.address.is_unspecified() || daemon.address == connection.local.ip())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use portreeve_core::ProcessInfo;
    use portreeve_testkit::listening_socket;

    use super::*;

    fn owned_by(port: u16, address: &str, name: &str, unit: Option<&str>) -> ListeningSocket {
        let mut s = listening_socket(port);
        s.address = address.parse().unwrap();
        s.processes = vec![Arc::new(ProcessInfo {
            pid: 1,
            name: name.into(),
            exe: None,
            cmdline: Vec::new(),
            systemd_unit: unit.map(str::to_string),
            container_id: None,
            attribution: Default::default(),
        })];
        s
    }

    fn conn(local: &str, remote: &str) -> TcpConnection {
        TcpConnection {
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
        }
    }

    #[test]
    fn finds_the_sessions_of_ssh_daemons_by_process_or_unit() {
        let listening = [
            owned_by(22, "0.0.0.0", "sshd", None),
            owned_by(2222, "10.0.0.1", "dropbear-ish", Some("sshd.service")),
            owned_by(8080, "0.0.0.0", "nginx", Some("nginx.service")),
            owned_by(2200, "127.0.0.1", "sshd", None),
        ];
        let established = [
            conn("10.0.0.1:22", "198.51.100.7:50122"),
            conn("10.0.0.1:2222", "203.0.113.5:40000"),
            // Not sshd's: a web client, and a connection to another
            // address than the one the daemon on 2222 is bound to.
            conn("10.0.0.1:8080", "203.0.113.9:40001"),
            conn("10.0.0.2:2222", "203.0.113.10:40002"),
            // This host's own outgoing SSH connection.
            conn("10.0.0.1:51000", "192.0.2.1:22"),
        ];
        let access = access_from(&listening, &established);
        assert_eq!(
            access.listening,
            [22, 2222],
            "loopback-only sshd is not exposed"
        );
        let found: Vec<(String, u16)> = access
            .sessions
            .iter()
            .map(|s| (s.client.to_string(), s.port))
            .collect();
        assert_eq!(
            found,
            [
                ("198.51.100.7".to_string(), 22),
                ("203.0.113.5".to_string(), 2222)
            ]
        );
        assert!(access.sessions[0].found_by.contains("198.51.100.7:50122"));
    }

    #[test]
    fn keeps_the_environment_session_as_one_more_source() {
        let access = with_environment_session(
            SshAccess::default(),
            Some(("198.51.100.7".parse().unwrap(), 22)),
        );
        assert_eq!(access.listening, Vec::<u16>::new());
        assert_eq!(access.sessions.len(), 1);
        assert_eq!(access.sessions[0].found_by, "$SSH_CONNECTION");
    }
}
