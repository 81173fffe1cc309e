//! The lock-out guard against a real OpenSSH daemon, with `$SSH_CONNECTION`
//! removed from the environment as `sudo` removes it: the guard must find
//! the live sessions and the daemon's port in the kernel.
//!
//! A session is a plain TCP connection that read sshd's banner
//! ([`support::sshd`]).

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Output;

use support::sshd::{Sshd, ssh_session};
use support::{Lab, assert_exit, assert_ok, run, stderr, stdout};

/// A policy whose only SSH rule admits a network the client is not in.
const SSH_FROM_ELSEWHERE: &str = r#"
[zones]
office = ["192.0.2.0/24"]

[[rule]]
port = 22
protocol = "tcp"
zones = ["office"]
"#;

/// `portreeve ARGS` in the server namespace, with no `$SSH_CONNECTION`,
/// as under `sudo`.
fn portreeve_under_sudo(lab: &Lab, args: &[&str]) -> Output {
    run(lab
        .home
        .command(lab.srv.exec(env!("CARGO_BIN_EXE_portreeve")))
        .env_remove("SSH_CONNECTION")
        .args(args))
}

/// `portreeve apply --policy POLICY [--force]`, as under `sudo`.
fn apply_under_sudo(lab: &Lab, policy: &Path, force: bool) -> Output {
    let policy = policy.to_str().unwrap();
    let mut args = vec!["apply", "--policy", policy];
    if force {
        args.push("--force");
    }
    portreeve_under_sudo(lab, &args)
}

#[test]
fn apply_refuses_to_cut_a_live_ssh_session_it_finds_in_the_kernel() {
    if !portreeve_testkit::privileged(
        "apply_refuses_to_cut_a_live_ssh_session_it_finds_in_the_kernel",
        &["ip", "python3", "nft", "sshd", "ssh-keygen"],
    ) {
        return;
    }
    let lab = Lab::new(47, &["tcp4:10.47.0.1:8080"]);
    let _sshd = Sshd::start(&lab, "10.47.0.1");
    let mut session = ssh_session(&lab, "10.47.0.1");
    let policy = lab.home.file("p.toml", SSH_FROM_ELSEWHERE);

    let plan = portreeve_under_sudo(&lab, &["plan", "--policy", policy.to_str().unwrap()]);
    assert_exit(&plan, 0, "Apply would be refused (lock-out guard)");
    assert!(
        stdout(&plan).contains("10.47.0.2/32 would lose tcp/22"),
        "{}",
        stdout(&plan)
    );

    let refused = apply_under_sudo(&lab, &policy, false);
    assert_exit(&refused, 2, "lock you out");
    assert!(
        stderr(&refused).contains("10.47.0.2/32 would lose tcp/22")
            && stderr(&refused).contains("established connection from 10.47.0.2:"),
        "names the session it found: {}",
        stderr(&refused)
    );
    assert_eq!(lab.live_table(), "", "nothing was applied");
    // The session is still alive both ways: sshd answers the client's
    // version string with its key exchange.
    session.write_all(b"SSH-2.0-portreeve_test\r\n").unwrap();
    let mut kexinit = [0u8; 64];
    let n = session.read(&mut kexinit).expect("sshd answers");
    assert!(n > 0, "sshd closed the session");

    assert_ok(&apply_under_sudo(&lab, &policy, true));
    assert!(lab.live_table().contains("table inet portreeve"));
    assert!(
        !lab.connects(22),
        "--force applies it: a new session is cut"
    );
}

#[test]
fn apply_refuses_to_close_a_listening_ssh_port_to_every_source() {
    if !portreeve_testkit::privileged(
        "apply_refuses_to_close_a_listening_ssh_port_to_every_source",
        &["ip", "python3", "nft", "sshd", "ssh-keygen"],
    ) {
        return;
    }
    let lab = Lab::new(48, &["tcp4:10.48.0.1:8080"]);
    let _sshd = Sshd::start(&lab, "10.48.0.1");
    // Wait until sshd answers, then hang up: no session is held.
    drop(ssh_session(&lab, "10.48.0.1"));
    let web_only = lab.home.file(
        "web.toml",
        "[zones]\noffice = [\"192.0.2.0/24\"]\n[[rule]]\nport = 8080\nprotocol = \"tcp\"\nzones = [\"office\"]\n",
    );

    let refused = apply_under_sudo(&lab, &web_only, false);
    assert_exit(&refused, 2, "0.0.0.0/0 would lose tcp/22");
    assert!(
        stderr(&refused).contains("SSH daemon listens") && !stderr(&refused).contains("session"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(lab.live_table(), "", "nothing was applied");

    // Open to some source, the port is not closed: the guard lets it be.
    let ssh_from_office = lab.home.file("p.toml", SSH_FROM_ELSEWHERE);
    assert_ok(&apply_under_sudo(&lab, &ssh_from_office, false));
    assert!(lab.live_table().contains("table inet portreeve"));
}

#[test]
fn the_unedited_starter_applied_under_sudo_keeps_the_ssh_session() {
    if !portreeve_testkit::privileged(
        "the_unedited_starter_applied_under_sudo_keeps_the_ssh_session",
        &["ip", "python3", "nft", "sshd", "ssh-keygen"],
    ) {
        return;
    }
    let lab = Lab::new(49, &["tcp4:10.49.0.1:8080"]);
    let _sshd = Sshd::start(&lab, "10.49.0.1");
    let mut session = ssh_session(&lab, "10.49.0.1");
    let starter = lab.home.path().join("starter.toml");
    assert_ok(&portreeve_under_sudo(
        &lab,
        &["policy", "init", "--output", starter.to_str().unwrap()],
    ));
    let text = std::fs::read_to_string(&starter).unwrap();
    assert!(
        text.contains("management = [\"10.49.0.2/32\"]")
            && text.contains("management_zone = \"management\""),
        "{text}"
    );

    assert_ok(&apply_under_sudo(&lab, &starter, false));
    assert!(lab.live_table().contains("table inet portreeve"));
    session.write_all(b"SSH-2.0-portreeve_test\r\n").unwrap();
    let mut kexinit = [0u8; 64];
    assert!(session.read(&mut kexinit).expect("sshd answers") > 0);
    assert!(lab.connects(22), "a new session from the same client");
    assert!(!lab.connects(8080), "the rest stays closed until reviewed");
}
