//! `[enforce] log`: where the packets the default action catches are
//! logged, checked against the ruleset the kernel holds in a namespace the
//! test creates — the log statement sits just before the final drop — and,
//! for `log = "kernel"`, in the kernel log itself, where ufw users look.

mod support;

use support::{Lab, assert_ok, run, stdout, testkit};

fn privileged(test: &str) -> bool {
    testkit::privileged(test, &["ip", "python3", "nft", "dmesg"])
}

const SUBNET: u8 = 61;

/// A lab whose server listens on 8080 only, with `log` applied.
fn lab_logging(log: &str) -> Lab {
    let lab = Lab::new(SUBNET, &["tcp4:0.0.0.0:8080"]);
    let policy = lab.home.file(
        "p.toml",
        format!(
            "[zones]\nlab = [\"10.{SUBNET}.0.0/24\"]\n[enforce]\nlog = \"{log}\"\n\
             [[rule]]\nname = \"web\"\nport = 8080\nprotocol = \"tcp\"\nzones = [\"lab\"]\n"
        ),
    );
    assert_ok(&lab.portreeve(&["apply", "--policy", policy.to_str().unwrap()]));
    lab
}

/// The live input chain's last two rules.
fn live_input_tail(lab: &Lab) -> Vec<String> {
    let table = lab.live_table();
    let body = table
        .split("chain input {\n")
        .nth(1)
        .expect("an input chain");
    let rules: Vec<String> = body[..body.find("\n\t}").unwrap()]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("type filter"))
        .map(str::to_string)
        .collect();
    rules[rules.len() - 2..].to_vec()
}

#[test]
fn nflog_logs_to_its_group_just_before_the_drop() {
    if !privileged("nflog_logs_to_its_group_just_before_the_drop") {
        return;
    }
    let lab = lab_logging("nflog");
    let tail = live_input_tail(&lab);
    assert_eq!(
        tail,
        [
            "limit rate 10/second burst 20 packets log prefix \"portreeve drop: \" group 0",
            "drop comment \"default\""
        ]
    );
}

#[test]
fn off_logs_nothing() {
    if !privileged("off_logs_nothing") {
        return;
    }
    let lab = lab_logging("off");
    assert!(!lab.live_table().contains(" log "), "{}", lab.live_table());
    assert_eq!(live_input_tail(&lab)[1], "drop comment \"default\"");
}

/// `net.netfilter.nf_log_all_netns` set to 1 while it lives, its old value
/// restored after: the kernel logs nothing from other namespaces than the
/// first unless it is set.
struct LogAllNetns(String);

const LOG_ALL_NETNS: &str = "/proc/sys/net/netfilter/nf_log_all_netns";

impl LogAllNetns {
    fn on() -> LogAllNetns {
        let old = std::fs::read_to_string(LOG_ALL_NETNS).unwrap();
        std::fs::write(LOG_ALL_NETNS, "1").unwrap();
        LogAllNetns(old)
    }
}

impl Drop for LogAllNetns {
    fn drop(&mut self) {
        let _ = std::fs::write(LOG_ALL_NETNS, self.0.trim());
    }
}

#[test]
fn kernel_logs_a_dropped_packet_where_ufw_users_look() {
    if !privileged("kernel_logs_a_dropped_packet_where_ufw_users_look") {
        return;
    }
    let lab = lab_logging("kernel");
    assert_eq!(
        live_input_tail(&lab),
        [
            "limit rate 10/minute burst 10 packets log prefix \"portreeve drop: \"",
            "drop comment \"default\""
        ]
    );
    let _log_all = LogAllNetns::on();
    // A port nothing allows: the SYN is dropped, and logged.
    let port = 7000 + u16::try_from(std::process::id() % 1000).unwrap();
    assert!(!lab.connects(port), "{port} is closed");
    let logged = |text: &str| {
        text.lines().any(|l| {
            l.contains("portreeve drop: ")
                && l.contains(&format!("SRC=10.{SUBNET}.0.2 "))
                && l.contains(&format!("DPT={port} "))
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let kernel_log = loop {
        let text = stdout(&run(std::process::Command::new("dmesg").arg("--notime")));
        if logged(&text) || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(
        logged(&kernel_log),
        "no `portreeve drop:` line for port {port} in the kernel log"
    );
}
