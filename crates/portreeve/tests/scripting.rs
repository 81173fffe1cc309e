//! portreeve in scripts and pipelines: a reader that closes the pipe early
//! (`| head`) is not an error, `-` reads standard input wherever a file is
//! read, `--color` decides colour whatever the environment says, and
//! `--no-headers` leaves tables' header lines out. Network traffic stays on
//! loopback or inside the namespace the privileged test creates.

mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use support::{Home, Lab, assert_ok, portreeve, privileged, run, stderr, stdout, testkit};

/// A policy allowing TCP 7080 from the lab's zone.
const POLICY: &str = r#"[zones]
lab = ["10.0.0.0/8"]

[[rule]]
name = "app"
port = 7080
protocol = "tcp"
zones = ["lab"]
"#;

/// Runs `cmd` with `input` on its standard input.
fn with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that fails before reading may close its end first.
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

/// Runs `cmd` with standard output a pipe whose reader is already gone, so
/// that its first write fails with EPIPE, as under `| head` once `head`
/// has what it wants.
fn into_closed_pipe(cmd: &mut Command) -> Output {
    let (reader, writer) = rustix::pipe::pipe().unwrap();
    drop(reader);
    cmd.stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn a_closed_pipe_ends_every_output_quietly_with_status_0() {
    let home = Home::new();
    let commands: &[&[&str]] = &[
        &["completions", "zsh"],
        &["completions", "bash"],
        &["man"],
        &["--help"],
        &["catalogue"],
        &["catalogue", "--format", "json"],
        &["inventory"],
        &["inventory", "--format", "json"],
        &["render"],
        &["ledger", "log"],
    ];
    for args in commands {
        let out = into_closed_pipe(
            home.command(Command::new(env!("CARGO_BIN_EXE_portreeve")))
                .args(*args),
        );
        let err = stderr(&out);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}

#[test]
fn color_always_and_never_override_the_environment() {
    let escapes = |args: &[&str], no_color: bool| {
        let mut cmd = portreeve();
        if !no_color {
            cmd.env_remove("NO_COLOR");
        }
        let out = run(cmd.args(args));
        assert_ok(&out);
        stdout(&out).contains('\x1b')
    };
    // `always`: even into a pipe and with NO_COLOR set, severities coloured.
    assert!(escapes(&["catalogue", "--color", "always"], true));
    assert!(escapes(&["--color=always", "catalogue"], false));
    // `never` and `auto` into a pipe: plain text.
    assert!(!escapes(&["catalogue", "--color", "never"], false));
    assert!(!escapes(&["catalogue", "--color", "auto"], false));
    assert!(!escapes(&["catalogue"], false));
    let out = run(portreeve().args(["catalogue", "--color", "sometimes"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn no_headers_leaves_out_the_header_line_only() {
    let table = |args: &[&str]| {
        let out = run(portreeve().args(args));
        assert_ok(&out);
        stdout(&out)
    };
    let with = table(&["catalogue"]);
    let without = table(&["catalogue", "--no-headers"]);
    assert!(with.starts_with("PORTS "), "{with}");
    assert!(without.starts_with("7 "), "{without}");
    assert_eq!(with.lines().count(), without.lines().count() + 1);
    assert_eq!(
        with.lines()
            .nth(1)
            .map(str::split_whitespace)
            .map(Iterator::collect::<Vec<_>>),
        without
            .lines()
            .next()
            .map(str::split_whitespace)
            .map(Iterator::collect::<Vec<_>>),
    );

    // A socket of this test's own, so the inventory has a row to keep.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ours = listener.local_addr().unwrap().to_string();
    let with = table(&["inventory"]);
    let without = table(&["--no-headers", "inventory"]);
    assert!(with.starts_with("PROTO "), "{with}");
    assert!(!without.contains("LOCAL ADDRESS"), "{without}");
    assert!(without.contains(&ours), "{ours} in {without}");

    // No rows and no header: nothing at all, not a blank line.
    let home = Home::new();
    let empty = home.run(&["ledger", "log", "--no-headers"]);
    assert_ok(&empty);
    assert_eq!(stdout(&empty), "");
}

#[test]
fn a_policy_on_standard_input_is_validated_and_named_stdin() {
    let out = with_stdin(
        portreeve().args(["policy", "validate", "-"]),
        POLICY.as_bytes(),
    );
    assert_ok(&out);
    let out = with_stdin(
        portreeve().args(["policy", "validate", "-"]),
        b"[zones]\nlab = [\"10.0.0.0/33\"]\n",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("<stdin>:2:8:"), "{}", stderr(&out));
}

#[test]
fn an_inventory_on_standard_input_is_judged_and_stdin_is_read_once() {
    let home = Home::new();
    let doc = run(portreeve().args(["inventory", "--format", "json"]));
    assert_ok(&doc);
    let from_stdin = with_stdin(
        home.command(Command::new(env!("CARGO_BIN_EXE_portreeve")))
            .args([
                "check",
                "--inventory",
                "-",
                "--format",
                "json",
                "--fail-on",
                "never",
            ]),
        &doc.stdout,
    );
    assert_ok(&from_stdin);
    let report: serde_json::Value = serde_json::from_str(&stdout(&from_stdin)).unwrap();
    assert!(report["summary"].is_object(), "{report}");

    // Two `-` in one command: the second would read nothing, so it is refused.
    let twice = with_stdin(
        home.command(Command::new(env!("CARGO_BIN_EXE_portreeve")))
            .args(["check", "--policy", "-", "--inventory", "-"]),
        POLICY.as_bytes(),
    );
    assert_eq!(twice.status.code(), Some(2), "{}", stderr(&twice));
    assert!(
        stderr(&twice).contains("standard input was already read"),
        "{}",
        stderr(&twice)
    );

    // A file that is not there is named.
    let missing = run(home
        .command(Command::new(env!("CARGO_BIN_EXE_portreeve")))
        .args(["check", "--inventory", "/nonexistent/inventory.json"]));
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("cannot read inventory /nonexistent/inventory.json"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn nmap_xml_captures_and_target_files_read_standard_input() {
    let xml = br#"<?xml version="1.0"?>
<nmaprun scanner="nmap" args="nmap -p 22 127.0.0.1" start="1700000000" version="7.93">
<host><status state="up" reason="localhost-response"/>
<address addr="127.0.0.1" addrtype="ipv4"/>
<ports><port protocol="tcp" portid="22"><state state="open" reason="syn-ack"/><service name="ssh"/></port></ports>
</host>
<runstats><finished time="1700000001"/></runstats>
</nmaprun>
"#;
    let out = with_stdin(
        portreeve().args(["scan", "--import", "-", "--format", "json"]),
        xml,
    );
    assert_ok(&out);
    assert!(stdout(&out).contains("\"port\": 22"), "{}", stdout(&out));

    let capture = &testkit::testdata("flows/netflow/data+templates.pcap");
    if capture.exists() {
        let by_path = run(portreeve().args(["flows", "decode", "--pcap"]).arg(capture));
        assert_ok(&by_path);
        let by_stdin = with_stdin(
            portreeve().args(["flows", "decode", "--pcap", "-"]),
            &std::fs::read(capture).unwrap(),
        );
        assert_ok(&by_stdin);
        assert_eq!(stdout(&by_stdin), stdout(&by_path));
    }

    // A target file on standard input: its mistakes are located in
    // `<stdin>`, and nothing is scanned.
    let out = with_stdin(
        portreeve().args(["scan", "--target-file", "-"]),
        b"127.0.0.1\nnot a target!\n",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("<stdin>:2:"), "{}", stderr(&out));
}

#[test]
fn a_policy_applied_from_standard_input_is_the_policy_in_effect() {
    if !privileged("a_policy_applied_from_standard_input_is_the_policy_in_effect") {
        return;
    }
    let lab = Lab::new(47, &["tcp4:0.0.0.0:7080"]);
    let cmd = || {
        lab.home
            .command(lab.srv.exec(env!("CARGO_BIN_EXE_portreeve")))
    };
    let applied = with_stdin(cmd().args(["apply", "--policy", "-"]), POLICY.as_bytes());
    assert_ok(&applied);
    assert!(lab.connects(7080));
    // Judged without --policy: the text kept by its digest (read back and
    // checked against it), named `<stdin>`.
    let check = run(cmd().args(["check", "--fail-on", "never"]));
    assert_ok(&check);
    assert!(
        stdout(&check).contains("policy in effect: <stdin> (sha256:"),
        "{}",
        stdout(&check)
    );
}
