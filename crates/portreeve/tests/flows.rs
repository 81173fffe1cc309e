//! Flow telemetry end to end: connections between two test namespaces are
//! captured with tcpdump, a real exporter (softflowd, from Debian) turns the
//! capture into NetFlow v9 and IPFIX sent over loopback to
//! `portreeve collect`, and the per-port aggregates must match the
//! connections the test made — counted independently by tshark from the
//! same capture. Also `flows decode` and `import zeek`.

mod support;

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
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

/// A free UDP port on loopback.
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
    for version in ["9", "10"] {
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let collector = support::portreeve()
            .args([
                "collect",
                "--netflow",
                &address,
                "--duration",
                "4s",
                "--flush",
                "1s",
            ])
            .args(["--no-store", "--format", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        // softflowd exports every flow when it reaches the end of the
        // capture, and exits. The deadline is a backstop.
        let exported = run(Command::new("timeout").args([
            "10",
            "softflowd",
            "-r",
            pcap.to_str().unwrap(),
            "-n",
            &address,
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
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata/flows/netflow/nfv5.pcap");
    if testdata.exists() {
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
