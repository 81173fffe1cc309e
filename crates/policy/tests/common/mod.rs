//! Sockets for policy tests, built without a host, and assertions on
//! where the parser's errors point.

#![allow(dead_code)] // Each test binary uses a different part.

use std::net::IpAddr;
use std::sync::Arc;

use portreeve_core::{
    BindScope, Family, ListeningSocket, NetnsRef, OwnerStatus, ProcessInfo, Proto,
};
use portreeve_policy::{PolicyErrors, parse_policy, parse_policy_bytes};

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
            attribution: Default::default(),
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

/// The errors `src` must produce.
pub fn errors(src: &str) -> PolicyErrors {
    match parse_policy("policy.toml", src) {
        Ok(_) => panic!("expected errors for:\n{src}"),
        Err(e) => e,
    }
}

/// Asserts the single error is at `line`:`column` and its message contains
/// `needle`; returns its hint.
#[track_caller]
pub fn single(src: &str, line: u32, column: u32, needle: &str) -> Option<String> {
    single_of(errors(src), line, column, needle)
}

/// The errors the bytes `src` must produce.
pub fn bytes_errors(src: &[u8]) -> PolicyErrors {
    match parse_policy_bytes("policy.toml", src) {
        Ok(_) => panic!("expected errors for:\n{}", String::from_utf8_lossy(src)),
        Err(e) => e,
    }
}

/// [`single`] for a file given as bytes.
#[track_caller]
pub fn single_bytes(src: &[u8], line: u32, column: u32, needle: &str) -> Option<String> {
    single_of(bytes_errors(src), line, column, needle)
}

#[track_caller]
fn single_of(errs: PolicyErrors, line: u32, column: u32, needle: &str) -> Option<String> {
    assert_eq!(errs.errors.len(), 1, "expected one error, got: {errs}");
    let e = &errs.errors[0];
    assert_eq!(
        (e.line, e.column),
        (line, column),
        "wrong location for `{}`",
        e.message
    );
    assert!(
        e.message.contains(needle),
        "message `{}` lacks `{needle}`",
        e.message
    );
    e.hint.clone()
}
