//! Flow telemetry end to end: connections between two test namespaces are
//! captured with tcpdump, a real exporter (softflowd, from Debian) turns the
//! capture into NetFlow v9 and IPFIX sent to `portreeve collect` over the
//! loopback of a namespace the test creates, and the per-port aggregates must match the
//! connections the test made — counted independently by tshark from the
//! same capture. Also `flows decode` and `import zeek`.

mod support;

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{Netns, run, stderr, stdout, testkit};

/// Connections the client makes, per server port.
const CONNECTIONS: [(u16, usize); 2] = [(8080, 3), (9090, 2)];

/// Captures the test's connections into `pcap`.
fn capture(pcap: &Path) {
    let (srv, client) = (Netns::bare(), Netns::bare());
    srv.link(&client, "10.34.0.1/24", "10.34.0.2/24");
    let _listeners = srv.listen(&["tcp4:0.0.0.0:8080", "tcp4:0.0.0.0:9090"], 0);
    let links = stdout(&run(srv.exec("ip").args(["-o", "link", "show"])));
    let device = links
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|d| d.split('@').next().unwrap())
        .find(|d| *d != "lo")
        .unwrap()
        .to_string();
    let mut tcpdump = srv
        .exec("tcpdump")
        .args([
            "-i",
            &device,
            "-U",
            "-q",
            "-w",
            pcap.to_str().unwrap(),
            "tcp",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    client.run(|| {
        for (port, n) in CONNECTIONS {
            for _ in 0..n {
                let to = std::net::SocketAddr::from(([10, 34, 0, 1], port));
                let mut s =
                    std::net::TcpStream::connect_timeout(&to, Duration::from_secs(2)).unwrap();
                std::io::Write::write_all(&mut s, b"hello").unwrap();
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    });
    std::thread::sleep(Duration::from_millis(700));
    let pid = rustix::process::Pid::from_raw(tcpdump.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    tcpdump.wait().unwrap();
}

/// tshark's count of (packets, IP bytes) to or from `port` in `pcap`.
fn tshark_totals(pcap: &Path, port: u16) -> (u64, u64) {
    let out = run(Command::new("tshark").args([
        "-r",
        pcap.to_str().unwrap(),
        "-Y",
        &format!("tcp.port == {port}"),
        "-T",
        "fields",
        "-e",
        "ip.len",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let lens: Vec<u64> = stdout(&out)
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    (lens.len() as u64, lens.iter().sum())
}

/// Where `portreeve collect` listens, on the loopback of a namespace the
/// test creates (new, so the port is free).
const COLLECTOR: &str = "127.0.0.1:2055";

/// `portreeve collect --netflow COLLECTOR --format json ARGS` started
/// inside `ns`, its output piped.
fn start_collect(ns: &Netns, args: &[&str]) -> Child {
    ns.exec(env!("CARGO_BIN_EXE_portreeve"))
        .args(["collect", "--netflow", COLLECTOR, "--format", "json"])
        .args(args)
        .env_remove("PORTREEVE_STATE_DIR")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn softflowd_netflow_v9_and_ipfix_aggregate_to_the_connections_made() {
    if !testkit::privileged(
        "softflowd_netflow_v9_and_ipfix_aggregate_to_the_connections_made",
        &["ip", "python3", "tcpdump", "softflowd", "tshark"],
    ) {
        return;
    }
    // softflowd 1.1.0 waits forever without reading the capture when its
    // control-socket path (-c) is longer than about 12 bytes: its pid file
    // and socket get short names in /tmp.
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("connections.pcap");
    let (pid_file, control) = (
        format!("/tmp/p{}", std::process::id()),
        format!("/tmp/s{}", std::process::id()),
    );
    capture(&pcap);
    // The exporter and the collector meet on the loopback of a namespace
    // of their own.
    let ns = Netns::bare();
    for version in ["9", "10"] {
        let collector = start_collect(&ns, &["--duration", "4s", "--flush", "1s", "--no-store"]);
        std::thread::sleep(Duration::from_millis(500));
        // softflowd exports every flow when it reaches the end of the
        // capture, and exits. The deadline is a backstop.
        let exported = run(ns.exec("timeout").args([
            "10",
            "softflowd",
            "-r",
            pcap.to_str().unwrap(),
            "-n",
            COLLECTOR,
            "-v",
            version,
            "-d",
            "-p",
            &pid_file,
            "-c",
            &control,
        ]));
        let _ = std::fs::remove_file(&pid_file);
        let _ = std::fs::remove_file(&control);
        let out = collector.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(doc["totals"]["dropped"], serde_json::json!({}), "{doc}");
        assert_eq!(doc["totals"]["other_protocol_records"], 0, "{doc}");
        for (server_port, connections) in CONNECTIONS {
            let a = doc["aggregates"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| {
                    a["server"] == "10.34.0.1" && a["port"] == server_port && a["protocol"] == "tcp"
                })
                .unwrap_or_else(|| {
                    panic!(
                        "v{version}: no aggregate for {server_port}: {doc}\nsoftflowd: {:?} {}{}",
                        exported.status,
                        stdout(&exported),
                        stderr(&exported)
                    )
                });
            // NetFlow flows are one-way: a connection is two of them.
            assert_eq!(
                a["flows"],
                2 * connections as u64,
                "v{version} {server_port}: {a}"
            );
            assert_eq!(a["clients"], 1, "{a}");
            let (packets, bytes) = tshark_totals(&pcap, server_port);
            assert_eq!(a["packets"], packets, "v{version} {server_port}: {a}");
            assert_eq!(a["bytes"], bytes, "v{version} {server_port}: {a}");
        }
    }
}

#[test]
fn flows_decode_prints_records_and_import_zeek_refuses_bad_lines() {
    let testdata = testkit::testdata("flows/netflow/nfv5.pcap");
    if testkit::skip_unless(
        "flows_decode_prints_records_and_import_zeek_refuses_bad_lines (the capture)",
        testdata.exists(),
        format_args!("{} is absent", testdata.display()),
    ) {
        let out = run(support::portreeve().args([
            "flows",
            "decode",
            "--pcap",
            testdata.to_str().unwrap(),
        ]));
        assert!(out.status.success(), "{}", stderr(&out));
        let records: Vec<Value> = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(!records.is_empty());
        assert!(records.iter().all(|r| r["source"] == "netflow_v5"));
        assert!(stderr(&out).contains("flow records"));
    }
    let dir = tempfile::tempdir().unwrap();
    let not_pcap = dir.path().join("x.pcap");
    std::fs::write(&not_pcap, b"hello").unwrap();
    let out =
        run(support::portreeve().args(["flows", "decode", "--pcap", not_pcap.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    let state = dir.path().join("state");
    let log = dir.path().join("conn.log");
    let zeek = |text: &str| {
        std::fs::write(&log, text).unwrap();
        run(support::portreeve().args([
            "--state-dir",
            state.to_str().unwrap(),
            "import",
            "zeek",
            log.to_str().unwrap(),
            "--format",
            "json",
        ]))
    };
    let good = "{\"ts\":1700000000.0,\"uid\":\"C1\",\"id.orig_h\":\"192.0.2.7\",\"id.orig_p\":50000,\"id.resp_h\":\"192.0.2.1\",\"id.resp_p\":443,\"proto\":\"tcp\",\"orig_pkts\":5,\"orig_ip_bytes\":400,\"resp_pkts\":4,\"resp_ip_bytes\":3000}\n";
    let bad = format!("{good}{{\"ts\": \"yesterday\"}}\n");
    let out = zeek(&bad);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("conn.log:2:"), "{}", stderr(&out));
    assert!(!state.join("agent.db").exists(), "nothing was stored");
    let out = zeek(good);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let a = &doc["aggregates"][0];
    assert_eq!(
        (a["server"].as_str(), a["port"].as_u64()),
        (Some("192.0.2.1"), Some(443)),
        "{doc}"
    );
    assert!(state.join("agent.db").exists(), "stored");

    // A ping is not the use of a port: it makes no aggregate.
    let ping = "{\"ts\":1700000001.0,\"uid\":\"C2\",\"id.orig_h\":\"192.0.2.7\",\"id.orig_p\":8,\"id.resp_h\":\"192.0.2.1\",\"id.resp_p\":0,\"proto\":\"icmp\",\"orig_pkts\":1,\"orig_ip_bytes\":84,\"resp_pkts\":1,\"resp_ip_bytes\":84}\n";
    let out = zeek(&format!("{good}{ping}"));
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let aggregates = doc["aggregates"].as_array().unwrap();
    assert_eq!(aggregates.len(), 1, "{doc}");
    assert_eq!(aggregates[0]["protocol"], "tcp", "{doc}");
}

/// A NetFlow v5 datagram with one flow `192.0.2.7:50000 → server:port/tcp`
/// of 3 packets and 180 bytes (see [`support::netflow_v5`]).
fn v5_datagram(server: [u8; 4], port: u16) -> Vec<u8> {
    support::netflow_v5(&[([192, 0, 2, 7], 50000, server, port)])
}

/// An Ethernet frame carrying `payload` in UDP 192.0.2.1:2055 → 192.0.2.2:2055.
fn ethernet_udp(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (28 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
    f.extend_from_slice(&2055u16.to_be_bytes());
    f.extend_from_slice(&2055u16.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

/// `frames` stamped one second apart from 2025-12-06.
fn stamped(frames: &[Vec<u8>]) -> Vec<(u64, Vec<u8>)> {
    (0..)
        .map(|i| (1_765_000_000 + i) * 1_000_000)
        .zip(frames.iter().cloned())
        .collect()
}

/// A classic pcap of `frames` on link type `link`.
fn classic_pcap(link: u32, frames: &[Vec<u8>]) -> Vec<u8> {
    testkit::capture::pcap(link, &stamped(frames))
}

/// A pcapng with one interface of `link` and a packet block per frame.
fn pcapng(link: u16, frames: &[Vec<u8>]) -> Vec<u8> {
    testkit::capture::pcapng(link, 0, &stamped(frames))
}

#[test]
fn flows_decode_keeps_what_precedes_a_cut_short_record_and_refuses_an_unknown_link_type() {
    let dir = tempfile::tempdir().unwrap();
    let decode = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        run(support::portreeve().args(["flows", "decode", "--pcap", path.to_str().unwrap()]))
    };
    let frames: Vec<Vec<u8>> = [8080, 9090, 443]
        .iter()
        .map(|&port| ethernet_udp(&v5_datagram([10, 0, 0, 1], port)))
        .collect();
    for (name, file, last) in [
        (
            "cut.pcap",
            classic_pcap(1, &frames),
            classic_pcap(1, &frames[..2]).len(),
        ),
        (
            "cut.pcapng",
            pcapng(1, &frames),
            pcapng(1, &frames[..2]).len(),
        ),
    ] {
        // The capture ends 30 bytes into its last packet record, as when
        // tcpdump is killed mid-write.
        let whole = file.len();
        let cut = &file[..last + 30];
        let out = decode(name, cut);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        let ports: Vec<u64> = stdout(&out)
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["dst_port"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(ports, [8080, 9090], "{name}: the records before the cut");
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "{name}: byte {last}: cut short: the record there needs {} bytes, 30 are present",
                whole - last
            )) && err.contains("2 datagrams decoded"),
            "{name}: {err}"
        );
    }
    // LINKTYPE_USER0 (147): nothing portreeve can read a packet from.
    for (name, file, offset) in [
        ("user0.pcap", classic_pcap(147, &frames), 20),
        ("user0.pcapng", pcapng(147, &frames), 48),
    ] {
        let out = decode(name, &file);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{name}: {}", stdout(&out));
        assert!(
            stderr(&out).contains(&format!("{name}: byte {offset}: link type 147")),
            "{name}: {}",
            stderr(&out)
        );
    }
}

/// A Zeek TSV conn.log in which `keys` distinct server ports (100 ports on
/// each of `keys / 100` servers) are each used `rounds` times, one
/// connection a line.
fn zeek_log(keys: u32, rounds: u32) -> String {
    let mut log = String::from(
        "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\n",
    );
    for round in 0..rounds {
        for i in 0..keys {
            let server = std::net::Ipv4Addr::from(0x0a00_0000 + i / 100);
            let line = round * keys + i;
            log.push_str(&format!(
                "{}.{:03}\tC{line}\t198.51.100.7\t50000\t{server}\t{}\ttcp\t2\t120\t1\t60\n",
                1_700_000_000 + line / 1000,
                line % 1000,
                1 + i % 100,
            ));
        }
    }
    log
}

#[test]
fn import_zeek_past_max_keys_loses_nothing_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (state, log) = (dir.path().join("state"), dir.path().join("conn.log"));
    // 10,000 server ports, each used twice, through 1,000 keys at most.
    std::fs::write(&log, zeek_log(10_000, 2)).unwrap();
    let out = run(support::portreeve().args([
        "--state-dir",
        state.to_str().unwrap(),
        "import",
        "zeek",
        log.to_str().unwrap(),
        "--max-keys",
        "1000",
        "--format",
        "json",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let aggregates = doc["aggregates"].as_array().unwrap();
    assert_eq!(aggregates.len(), 10_000, "one row per server port");
    assert!(
        aggregates
            .iter()
            .all(|a| a["flows"] == 2 && a["packets"] == 6)
    );
    let evicted = doc["totals"]["evicted"].as_u64().unwrap();
    assert!(evicted >= 10_000, "{}", doc["totals"]);
    assert_eq!(doc["totals"]["records"], 20_000, "{}", doc["totals"]);
    assert!(
        stderr(&out).contains(&format!(
            "{evicted} aggregates evicted past --max-keys 1000"
        )),
        "{}",
        stderr(&out)
    );
    // What the store holds: every connection, one row per server port
    // (read with Debian's sqlite3, which the test needs for this).
    if !testkit::require_programs(
        "import_zeek_past_max_keys_loses_nothing_and_says_so (the store check)",
        &["sqlite3"],
    ) {
        return;
    }
    let stored = run(Command::new("sqlite3").args([
        state.join("agent.db").to_str().unwrap(),
        "SELECT count(*), sum(flows), sum(packets), sum(bytes) FROM flows",
    ]));
    assert!(stored.status.success(), "{}", stderr(&stored));
    assert_eq!(stdout(&stored).trim(), "10000|20000|60000|3600000");
}

#[test]
fn collect_counts_and_drops_datagrams_from_exporters_not_allowed() {
    if !support::privileged("collect_counts_and_drops_datagrams_from_exporters_not_allowed") {
        return;
    }
    let ns = Netns::bare();
    let collector = start_collect(
        &ns,
        &[
            "--exporter",
            "127.0.0.1/32",
            "--duration",
            "2s",
            "--flush",
            "500ms",
            "--no-store",
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    // All of 127.0.0.0/8 is loopback: 127.0.0.2 stands for any exporter
    // not in the list (a spoofed source, a misconfigured router).
    ns.run(|| {
        let allowed = UdpSocket::bind("127.0.0.1:0").unwrap();
        let other = UdpSocket::bind("127.0.0.2:0").unwrap();
        for i in 0..10u16 {
            allowed
                .send_to(&v5_datagram([10, 0, 0, 1], 8080), COLLECTOR)
                .unwrap();
            other
                .send_to(&v5_datagram([10, 0, 0, 2], 1000 + i), COLLECTOR)
                .unwrap();
        }
    });
    let out = collector.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let totals = &doc["totals"];
    assert_eq!(totals["datagrams"], 20, "{totals}");
    assert_eq!(totals["decoded"], 10, "{totals}");
    assert_eq!(
        totals["dropped"],
        serde_json::json!({"unknown_exporter": 10}),
        "{totals}"
    );
    let aggregates = doc["aggregates"].as_array().unwrap();
    assert_eq!(aggregates.len(), 1, "{doc}");
    assert_eq!(aggregates[0]["server"], "10.0.0.1");
    assert_eq!(aggregates[0]["flows"], 10);
}
