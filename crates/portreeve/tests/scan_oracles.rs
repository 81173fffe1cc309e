//! Oracles the test authors did not write. Port states and reasons are
//! compared with what nmap says about the same namespace target (SYN scan
//! with `nmap -sS`, connect scan with `nmap -sT`, greppable output with
//! `nmap -oG`), and the unauthenticated-access verdicts with real servers
//! from Debian's packages — PostgreSQL, MariaDB and vsftpd — each run twice
//! inside the target namespace, once open to anyone and once not. Every
//! probe goes to an address of the namespaces the test creates.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Daemon, Lab, Netns, RunPortreeve, run, stderr, stdout, testkit};

/// The target's address in a [`Lab`] of `subnet`, and the scanner's.
fn target4(subnet: u8) -> String {
    format!("10.{subnet}.0.1")
}

/// The target's IPv6 address after [`add_ipv6`].
fn target6(subnet: u8) -> String {
    format!("fd73:{subnet}::1")
}

/// Links the lab's two namespaces once more, over IPv6.
fn add_ipv6(lab: &Lab, subnet: u8) {
    lab.srv.link(
        &lab.client,
        &format!("fd73:{subnet}::1/64"),
        &format!("fd73:{subnet}::2/64"),
    );
}

/// Loads an nftables ruleset into the target namespace.
fn firewall(lab: &Lab, ruleset: &str) {
    let file = lab.home.file("target.nft", ruleset);
    let out = run(lab.srv.exec("nft").arg("-f").arg(file));
    assert!(out.status.success(), "nft: {}", stderr(&out));
}

/// Lets the target send every ICMP error at once: Linux sends about one per
/// second to a peer after a burst of six, and four scanners in a row would
/// otherwise see some answers suppressed — a rate limit, which is not what
/// these tests compare.
fn no_icmp_rate_limit(lab: &Lab) {
    let out = run(lab.srv.exec("sysctl").args([
        "-qw",
        "net.ipv4.icmp_ratelimit=0",
        "net.ipv6.icmp.ratelimit=0",
    ]));
    assert!(out.status.success(), "sysctl: {}", stderr(&out));
}

/// (state, reason) per TCP port of the one host in an XML document as
/// `nmap -oX` writes it (nmap's own, or portreeve's `--format xml`). Ports
/// summarised in `<extraports>` are expanded from their `<extrareasons>`.
fn xml_states(xml: &str) -> BTreeMap<u16, (String, String)> {
    let attr = |tag: &str, name: &str| -> String {
        let key = format!(" {name}=\"");
        let at = tag
            .find(&key)
            .unwrap_or_else(|| panic!("no {name} in {tag}"));
        let rest = &tag[at + key.len()..];
        rest[..rest.find('"').unwrap()].to_string()
    };
    let mut out = BTreeMap::new();
    for port in xml.split("<port ").skip(1) {
        let state = &port[port.find("<state ").expect("a port has a state")..];
        out.insert(
            attr(port, "portid").parse().unwrap(),
            (attr(state, "state"), attr(state, "reason")),
        );
    }
    for extra in xml.split("<extraports ").skip(1) {
        let state = attr(extra, "state");
        let extra = &extra[..extra.find("</extraports>").unwrap()];
        for group in extra.split("<extrareasons ").skip(1) {
            let reason = attr(group, "reason");
            for p in portreeve_scan::ports::parse_ports(&attr(group, "ports")).unwrap() {
                out.insert(p, (state.clone(), reason.clone()));
            }
        }
    }
    out
}

/// `nmap ARGS -oX - TARGET` from the scanner namespace: every port's
/// state and reason.
fn nmap_states(lab: &Lab, args: &[&str], target: &str) -> BTreeMap<u16, (String, String)> {
    let mut cmd = lab.client.exec("nmap");
    cmd.args([
        "-n",
        "-Pn",
        "--max-retries",
        "1",
        "--max-rtt-timeout",
        "300ms",
    ]);
    if target.contains(':') {
        cmd.arg("-6");
    }
    let out = run(cmd.args(args).args(["-oX", "-", target]));
    assert!(out.status.success(), "nmap {args:?}: {}", stderr(&out));
    xml_states(&stdout(&out))
}

/// `portreeve scan TARGET ARGS --format xml` from the scanner namespace:
/// every port's state and reason, as its nmap-compatible XML names them.
fn portreeve_states(lab: &Lab, args: &[&str], target: &str) -> BTreeMap<u16, (String, String)> {
    let mut all = vec!["scan", target, "--format", "xml", "--max-retries", "1"];
    all.extend_from_slice(&["--max-rtt", "300ms"]);
    all.extend_from_slice(args);
    let out = lab.client.portreeve(&all);
    assert!(out.status.success(), "portreeve {all:?}: {}", stderr(&out));
    xml_states(&stdout(&out))
}

/// Asserts both scanners saw `ports` with the same states and reasons, and
/// that nmap saw `expected` (so the comparison covers what it should).
#[track_caller]
fn assert_same_as_nmap(
    ours: &BTreeMap<u16, (String, String)>,
    nmap: &BTreeMap<u16, (String, String)>,
    expected: &[(u16, &str, &str)],
    what: &str,
) {
    let listed = |m: &BTreeMap<u16, (String, String)>| {
        m.iter()
            .map(|(p, (s, r))| format!("{p} {s} {r}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        listed(ours),
        listed(nmap),
        "{what}: portreeve (left) and nmap (right) disagree"
    );
    for &(port, state, reason) in expected {
        assert_eq!(
            nmap.get(&port),
            Some(&(state.to_string(), reason.to_string())),
            "{what}: nmap on {port}"
        );
    }
}

fn privileged(test: &str, programs: &[&str]) -> bool {
    let mut all = vec!["ip", "python3", "nft", "nmap"];
    all.extend_from_slice(programs);
    testkit::privileged(test, &all)
}

/// Listeners on `ports`, IPv4 and IPv6.
fn listen_specs(ports: &[u16]) -> Vec<String> {
    ports
        .iter()
        .flat_map(|p| {
            [
                format!("tcp4:0.0.0.0:{p}"),
                format!("tcp6:[::]:{p}:v6only=1"),
            ]
        })
        .collect()
}

fn lab(subnet: u8, ports: &[u16]) -> Lab {
    let specs = listen_specs(ports);
    let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
    let lab = Lab::new(subnet, &specs);
    add_ipv6(&lab, subnet);
    lab
}

#[test]
fn syn_scan_states_and_reasons_are_nmaps() {
    if !privileged("syn_scan_states_and_reasons_are_nmaps", &[]) {
        return;
    }
    // Open 22 and 80, closed 23 and 24, dropped 81 and 82 (listening behind
    // the firewall).
    let lab = lab(81, &[22, 80, 81, 82]);
    firewall(
        &lab,
        "table inet t {\n\tchain input {\n\t\ttype filter hook input priority 0;\n\
         \t\ttcp dport { 81, 82 } drop\n\t}\n}\n",
    );
    let ports = "22-24,80-82";
    for target in [target4(81), target6(81)] {
        let ours = portreeve_states(&lab, &["--syn", "-p", ports], &target);
        let nmap = nmap_states(&lab, &["-sS", "-p", ports], &target);
        assert_same_as_nmap(
            &ours,
            &nmap,
            &[
                (22, "open", "syn-ack"),
                (23, "closed", "reset"),
                (81, "filtered", "no-response"),
            ],
            &format!("SYN scan of {target}"),
        );
    }
}

/// The target answers 90 with ICMP administratively prohibited, 91 with
/// host unreachable (ICMPv6 address unreachable) and 92 with a TCP reset
/// made by its firewall; all three have listeners behind it.
const REJECTING: &str = "table inet t {\n\tchain input {\n\t\ttype filter hook input priority 0;\n\
     \t\ttcp dport 90 reject with icmpx type admin-prohibited\n\
     \t\ttcp dport 91 reject with icmpx type host-unreachable\n\
     \t\ttcp dport 92 reject with tcp reset\n\t}\n}\n";

#[test]
fn icmp_unreachables_and_firewall_resets_are_read_as_nmap_reads_them() {
    if !privileged(
        "icmp_unreachables_and_firewall_resets_are_read_as_nmap_reads_them",
        &["sysctl"],
    ) {
        return;
    }
    let lab = lab(82, &[22, 90, 91, 92]);
    firewall(&lab, REJECTING);
    no_icmp_rate_limit(&lab);
    let ports = "22,23,90-92";
    for target in [target4(82), target6(82)] {
        let syn = portreeve_states(&lab, &["--syn", "-p", ports], &target);
        let nmap_syn = nmap_states(&lab, &["-sS", "-p", ports], &target);
        assert_same_as_nmap(
            &syn,
            &nmap_syn,
            &[
                (90, "filtered", "admin-prohibited"),
                (92, "closed", "reset"),
            ],
            &format!("SYN scan of {target}"),
        );
        let connect = portreeve_states(&lab, &["-p", ports], &target);
        let nmap_connect = nmap_states(&lab, &["-sT", "-p", ports], &target);
        if target.contains(':') {
            // Over IPv6 the kernel drops most ICMPv6 errors for a socket
            // still inside connect() (TcpExtLockDroppedIcmps), which on a
            // veth link is when they arrive: both connect scanners then see
            // silence or the error at random, so only states compare.
            let states = |m: &BTreeMap<u16, (String, String)>| {
                m.iter()
                    .map(|(p, (s, _))| (*p, s.clone()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(states(&connect), states(&nmap_connect), "{target}");
            continue;
        }
        assert_same_as_nmap(
            &connect,
            &nmap_connect,
            &[
                (90, "filtered", "host-unreach"),
                (92, "closed", "conn-refused"),
            ],
            &format!("connect scan of {target}"),
        );
    }
}

/// nmap's `-oG` lines with what legitimately differs made equal: the
/// scanner's name, version, command line and times in the comments, and
/// the service column, which nmap fills from its port table even without
/// `-sV` and portreeve leaves empty without `--service`.
fn normalise_grepable(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| {
            if line.starts_with("# ") {
                let tail = line
                    .split(" -- ")
                    .nth(1)
                    .map(|t| t.split(" scanned in ").next().unwrap_or(t).to_string());
                return format!("# {}", tail.unwrap_or_default());
            }
            match line.split_once("\tPorts: ") {
                Some((host, rest)) => {
                    let (ports, ignored) = rest.split_once('\t').unwrap_or((rest, ""));
                    let ports: Vec<String> = ports
                        .split(", ")
                        .map(|entry| {
                            let mut fields: Vec<&str> = entry.split('/').collect();
                            fields[4] = "";
                            fields.join("/")
                        })
                        .collect();
                    format!("{host}\tPorts: {}\t{ignored}", ports.join(", "))
                }
                None => line.to_string(),
            }
        })
        .collect()
}

#[test]
fn grepable_output_is_nmaps_line_for_line() {
    if !privileged("grepable_output_is_nmaps_line_for_line", &["sysctl"]) {
        return;
    }
    // Open 22 and 8080 (80 is behind the firewall), 41-80 filtered
    // (rejected, so nobody waits), the rest closed: one state too large to
    // list, then two, as in most real scans.
    let lab = lab(83, &[22, 80, 8080]);
    firewall(
        &lab,
        "table inet t {\n\tchain input {\n\t\ttype filter hook input priority 0;\n\
         \t\ttcp dport 41-80 reject with icmpx type admin-prohibited\n\t}\n}\n",
    );
    no_icmp_rate_limit(&lab);
    for (target, ports) in [
        (target4(83), "1-30,41-45,8080"),
        (target4(83), "1-100,8080"),
        (target6(83), "1-30,41-45,8080"),
    ] {
        let ours = lab
            .client
            .portreeve(&["scan", &target, "-p", ports, "--format", "grepable"]);
        assert!(ours.status.success(), "{}", stderr(&ours));
        let mut nmap = lab.client.exec("nmap");
        if target.contains(':') {
            nmap.arg("-6");
        }
        let nmap = run(nmap.args(["-sT", "-n", "-Pn", "-p", ports, "-oG", "-", &target]));
        assert!(nmap.status.success(), "{}", stderr(&nmap));
        let (ours, nmap) = (stdout(&ours), stdout(&nmap));
        assert_eq!(
            normalise_grepable(&ours),
            normalise_grepable(&nmap),
            "{target} -p {ports}: portreeve's greppable output\n{ours}\nnmap's\n{nmap}"
        );
        assert!(nmap.contains("8080/open/tcp//"), "{nmap}");
    }
}

// --- Real servers, open to anyone and not -----------------------------------

/// A scratch directory for one server, owned by `user` so that servers
/// which refuse to run as root can use it.
struct Scratch {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Scratch {
    fn owned_by(user: &str) -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let out = run(Command::new("chown").args([user, path.to_str().unwrap()]));
        assert!(out.status.success(), "chown: {}", stderr(&out));
        Scratch { _dir: dir, path }
    }

    fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// Starts `program args` in the target namespace; killed when the test
/// ends.
fn start(ns: &Netns, program: &str, args: &[&str]) -> Daemon {
    Daemon(
        ns.exec(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e}")),
    )
}

/// Waits until the client completes a handshake with each of `ports`.
fn wait_for(lab: &Lab, ports: &[u16], what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for &port in ports {
        while !lab.connects(port) {
            assert!(Instant::now() < deadline, "{what} did not listen on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Runs a setup command (as it is, on the host: it touches no network),
/// failing the test with its output if it fails.
#[track_caller]
fn setup(cmd: &mut Command) {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// From the client, against the target's `ports`: per port, the verdict of
/// `scan --service` on access without credentials, and the ports that
/// `check --scan` (with the target's own inventory) gives an
/// `unauthenticated-service` finding.
fn unauthenticated(lab: &Lab, subnet: u8, ports: &[u16]) -> (BTreeMap<u16, Value>, Vec<u16>) {
    let target = target4(subnet);
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    let ports = ports.join(",");
    let scan = json(&lab.client.portreeve(&[
        "scan",
        &target,
        "-p",
        &ports,
        "--service",
        "--format",
        "json",
    ]));
    let verdicts = scan["hosts"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let port = p["port"].as_u64().unwrap() as u16;
            (port, p["service"]["unauthenticated"].clone())
        })
        .collect();
    let inventory = lab
        .home
        .file("inventory.json", lab.ok(&["inventory", "--format", "json"]));
    let check = json(&lab.client.portreeve(&[
        "check",
        "--inventory",
        inventory.to_str().unwrap(),
        "--scan",
        &target,
        "--scan-ports",
        &ports,
        "--format",
        "json",
    ]));
    let mut flagged: Vec<u16> = check["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "PR010")
        .map(|f| {
            let place = f["message"].as_str().unwrap().split(' ').next().unwrap();
            let port = place.rsplit_once(':').unwrap().1;
            port.trim_end_matches("/tcp").parse().unwrap()
        })
        .collect();
    flagged.sort_unstable();
    (verdicts, flagged)
}

/// A command's standard output as JSON, failing with everything it wrote.
#[track_caller]
fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(out), stderr(out)))
}

/// Asserts the verdicts: `open` lets anyone in, `closed` does not.
#[track_caller]
fn assert_flips(lab: &Lab, subnet: u8, open: u16, closed: u16) {
    let (verdicts, flagged) = unauthenticated(lab, subnet, &[open, closed]);
    assert_eq!(
        verdicts.get(&open),
        Some(&Value::Bool(true)),
        "{verdicts:?}"
    );
    assert_eq!(
        verdicts.get(&closed),
        Some(&Value::Bool(false)),
        "{verdicts:?}"
    );
    assert_eq!(flagged, [open], "PR010 for the open server only");
}

const POSTGRES_BIN: &str = "/usr/lib/postgresql/15/bin";

#[test]
fn postgresql_with_trust_is_unauthenticated_and_with_scram_is_not() {
    let initdb = format!("{POSTGRES_BIN}/initdb");
    let postgres = format!("{POSTGRES_BIN}/postgres");
    if !privileged(
        "postgresql_with_trust_is_unauthenticated_and_with_scram_is_not",
        &["setpriv", &initdb, &postgres],
    ) {
        return;
    }
    let subnet = 84;
    let lab = lab(subnet, &[]);
    let dir = Scratch::owned_by("postgres");
    let as_postgres = |program: &str| {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(program);
        cmd
    };
    let trust = dir.join("trust");
    setup(
        as_postgres(&initdb)
            .args(["--no-sync", "-U", "postgres", "-A", "trust", "-D"])
            .arg(&trust),
    );
    // The same cluster twice: one lets anyone in, one asks for a password.
    let scram = dir.join("scram");
    setup(Command::new("cp").arg("-a").arg(&trust).arg(&scram));
    for (data, method) in [(&trust, "trust"), (&scram, "scram-sha-256")] {
        std::fs::write(
            data.join("pg_hba.conf"),
            format!("host all all 0.0.0.0/0 {method}\n"),
        )
        .unwrap();
    }
    let address = target4(subnet);
    let _servers: Vec<Daemon> = [(&trust, "5432"), (&scram, "5433")]
        .into_iter()
        .map(|(data, port)| {
            let mut cmd = lab.srv.exec("setpriv");
            cmd.args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
                .arg(&postgres)
                .arg("-D")
                .arg(data)
                .arg("-k")
                .arg(&dir.path)
                .args(["-h", &address, "-p", port, "-c", "fsync=off"]);
            Daemon(
                cmd.stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start postgres"),
            )
        })
        .collect();
    // A postmaster listens before it accepts logins ("the database system
    // is starting up"): wait until both say they are ready.
    wait_for(&lab, &[5432, 5433], "postgres");
    for port in ["5432", "5433"] {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !run(lab
            .client
            .exec(format!("{POSTGRES_BIN}/pg_isready"))
            .args(["-q", "-h", &address, "-p", port]))
        .status
        .success()
        {
            assert!(Instant::now() < deadline, "postgres on {port} is not ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    assert_flips(&lab, subnet, 5432, 5433);
}

#[test]
fn mariadb_with_a_passwordless_root_is_unauthenticated_and_with_a_password_is_not() {
    if !privileged(
        "mariadb_with_a_passwordless_root_is_unauthenticated_and_with_a_password_is_not",
        // Not `mariadb-install-db`: the check runs `PROGRAM --version`,
        // which that script does not know, and it would then initialise
        // the host's own data directory. The same package installs both.
        &["mariadbd"],
    ) {
        return;
    }
    let subnet = 85;
    let lab = lab(subnet, &[]);
    let dir = Scratch::owned_by("root");
    let open = dir.join("open");
    setup(
        Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--user=root",
                "--skip-test-db",
                "--auth-root-authentication-method=normal",
            ])
            .arg(format!("--datadir={}", open.display())),
    );
    // The same data twice. Both have a root account for every host, which
    // the scanner reaches: one without a password, one with.
    let guarded = dir.join("guarded");
    setup(Command::new("cp").arg("-a").arg(&open).arg(&guarded));
    let address = target4(subnet);
    let _servers: Vec<Daemon> = [
        (&open, "3306", "CREATE USER 'root'@'%';\n"),
        (
            &guarded,
            "3307",
            "CREATE USER 'root'@'%' IDENTIFIED BY 'a-password-8h3k';\n",
        ),
    ]
    .into_iter()
    .map(|(data, port, init)| {
        let init_file = dir.join(&format!("init-{port}.sql"));
        std::fs::write(&init_file, init).unwrap();
        start(
            &lab.srv,
            "mariadbd",
            &[
                "--no-defaults",
                "--user=root",
                &format!("--datadir={}", data.display()),
                &format!("--socket={}", dir.join(&format!("{port}.sock")).display()),
                &format!("--pid-file={}", dir.join(&format!("{port}.pid")).display()),
                &format!("--init-file={}", init_file.display()),
                &format!("--bind-address={address}"),
                &format!("--port={port}"),
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=8M",
            ],
        )
    })
    .collect();
    wait_for(&lab, &[3306, 3307], "mariadbd");
    assert_flips(&lab, subnet, 3306, 3307);
}

/// A vsftpd configuration for one listener, in the foreground.
fn vsftpd_config(address: &str, port: u16, anonymous: bool, root: &Path, empty: &Path) -> String {
    let anonymous = if anonymous { "YES" } else { "NO" };
    format!(
        "listen=YES\nlisten_ipv6=NO\nbackground=NO\nlisten_address={address}\n\
         listen_port={port}\nanonymous_enable={anonymous}\nlocal_enable=YES\n\
         anon_root={}\nsecure_chroot_dir={}\nseccomp_sandbox=NO\n\
         pam_service_name=vsftpd\nxferlog_enable=NO\n",
        root.display(),
        empty.display()
    )
}

#[test]
fn vsftpd_with_anonymous_login_is_unauthenticated_and_without_is_not() {
    if !privileged(
        "vsftpd_with_anonymous_login_is_unauthenticated_and_without_is_not",
        &["vsftpd"],
    ) {
        return;
    }
    let subnet = 86;
    let lab = lab(subnet, &[]);
    let dir = Scratch::owned_by("root");
    let (root, empty) = (dir.join("pub"), dir.join("empty"));
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(&empty).unwrap();
    let address = target4(subnet);
    let _servers: Vec<Daemon> = [(21, true), (2121, false)]
        .into_iter()
        .map(|(port, anonymous)| {
            let config = dir.join(&format!("vsftpd-{port}.conf"));
            std::fs::write(
                &config,
                vsftpd_config(&address, port, anonymous, &root, &empty),
            )
            .unwrap();
            start(&lab.srv, "vsftpd", &[config.to_str().unwrap()])
        })
        .collect();
    wait_for(&lab, &[21, 2121], "vsftpd");
    assert_flips(&lab, subnet, 21, 2121);
}
