//! Sockets for policy tests, built without a host.

#![allow(dead_code)] // Each test binary uses a different part.

use std::net::IpAddr;
use std::sync::Arc;

use portreeve_core::{
    BindScope, Family, ListeningSocket, NetnsRef, OwnerStatus, ProcessInfo, Proto,
};

/// A socket on `addr:port`, owned by process `daemon` (pid 100) of
/// `daemon.service`.
pub fn socket(proto: Proto, addr: &str, port: u16) -> ListeningSocket {
    let address: IpAddr = addr.parse().unwrap();
    ListeningSocket {
        protocol: proto,
        family: if address.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        },
        address,
        port,
        interface: None,
        scope: BindScope::of(address),
        dual_stack: false,
        uid: 0,
        user: Some("root".into()),
        inode: u64::from(port),
        netns: NetnsRef {
            inode: 1,
            name: None,
        },
        owner_status: OwnerStatus::Known,
        processes: vec![Arc::new(ProcessInfo {
            pid: 100,
            name: "daemon".into(),
            exe: Some("/usr/sbin/daemon".into()),
            cmdline: vec!["daemon".into()],
            systemd_unit: Some("daemon.service".into()),
            container_id: None,
        })],
    }
}

/// `s`, owned by process `name` (executable `/usr/sbin/NAME`) of `unit`.
pub fn owned_by(mut s: ListeningSocket, name: &str, unit: &str) -> ListeningSocket {
    let p = Arc::make_mut(&mut s.processes[0]);
    p.name = name.into();
    p.exe = Some(format!("/usr/sbin/{name}"));
    p.systemd_unit = Some(unit.into());
    s
}

/// `s` with no known owner, for the reason `status` gives.
pub fn without_owner(mut s: ListeningSocket, status: OwnerStatus) -> ListeningSocket {
    s.processes.clear();
    s.owner_status = status;
    s
}

/// An IPv6 wildcard TCP socket on `port` that also accepts IPv4.
pub fn dual_stack(port: u16) -> ListeningSocket {
    let mut s = socket(Proto::Tcp, "::", port);
    s.dual_stack = true;
    s
}
