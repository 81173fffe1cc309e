//! Captures written by real capture tools, read back: tcpdump's classic
//! pcap with nanosecond timestamps and tshark's pcapng, each capturing the
//! UDP datagrams this test sends on the loopback of a namespace it created
//! (so nothing else is on that loopback). Privileged: capturing needs root.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use portreeve_flows::pcap;
use portreeve_testkit::{Netns, privileged};

/// Packets each tool is told to capture before it exits.
const PACKETS: usize = 3;
/// The port the datagrams go to; the capture filter names it.
const PORT: u16 = 47_001;

/// A file in a directory of its own, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("prt-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn micros_now() -> u64 {
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock after 1970");
    u64::try_from(since.as_micros()).expect("fits")
}

/// Starts `tool` (told to stop after [`PACKETS`] packets to [`PORT`]) in
/// `ns`, sends numbered datagrams there to [`PORT`] until it exits, and
/// checks what [`pcap::udp_datagrams`] reads from the file it wrote.
fn capture_and_read(ns: &Netns, tool: &str, args: &[&str], file: &Path) {
    let started = micros_now();
    let mut child = ns
        .exec(tool)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {tool}: {e}"));
    let sent = ns.run(|| {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut sent = 0u32;
        while child.try_wait().expect("wait").is_none() {
            assert!(
                Instant::now() < deadline,
                "{tool} did not capture {PACKETS} packets in 30 s"
            );
            socket
                .send_to(format!("portreeve {sent}").as_bytes(), ("127.0.0.1", PORT))
                .expect("send");
            sent += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
        sent
    });
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{tool} failed: {stderr}");
    let finished = micros_now();

    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{tool} wrote no file: {e}"));
    let mut reader = pcap::udp_datagrams(&bytes).unwrap_or_else(|e| panic!("{tool}'s file: {e}"));
    let datagrams: Vec<pcap::UdpDatagram> = reader
        .by_ref()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{tool}'s file: {e}"));
    assert_eq!(reader.skipped(), 0, "{tool}: only the filtered UDP packets");
    assert_eq!(datagrams.len(), PACKETS, "{tool}: {datagrams:?}");
    let to: SocketAddr = ([127, 0, 0, 1], PORT).into();
    for (n, d) in datagrams.iter().enumerate() {
        assert_eq!(d.dst, to, "{tool}");
        assert_eq!(d.src.ip(), to.ip(), "{tool}");
        // The first datagrams may have gone out before the tool listened.
        let payload = String::from_utf8_lossy(d.payload);
        let number: u32 = payload
            .strip_prefix("portreeve ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{tool}: datagram {n} is {payload:?}"));
        assert!(number < sent, "{tool}: datagram {n} is {payload:?}");
        assert!(
            (started..=finished).contains(&d.timestamp_us),
            "{tool}: datagram {n} stamped {} µs, outside the test's {started}..={finished}",
            d.timestamp_us
        );
    }
    assert!(
        datagrams
            .windows(2)
            .all(|w| w[0].timestamp_us < w[1].timestamp_us),
        "{tool}: timestamps in sending order"
    );
}

#[test]
fn tcpdump_nanosecond_pcap_and_tshark_pcapng_read_back() {
    let test = "tcpdump_nanosecond_pcap_and_tshark_pcapng_read_back";
    if !privileged(test, &["ip", "tcpdump", "tshark"]) {
        return;
    }
    let scratch = Scratch::new(test);
    let ns = Netns::bare();
    let filter = format!("udp dst port {PORT}");
    let count = PACKETS.to_string();

    let classic = scratch.0.join("tcpdump.pcap");
    let classic_path = classic.to_str().expect("utf-8 path");
    #[rustfmt::skip]
    let tcpdump = ["-i", "lo", "-n", "-Z", "root", "--time-stamp-precision", "nano",
        "-c", &count, "-w", classic_path, &filter];
    capture_and_read(&ns, "tcpdump", &tcpdump, &classic);
    let header = std::fs::read(&classic).expect("read");
    assert_eq!(header[..4], [0x4d, 0x3c, 0xb2, 0xa1], "a nanosecond pcap");

    let ng = scratch.0.join("tshark.pcapng");
    let ng_path = ng.to_str().expect("utf-8 path");
    #[rustfmt::skip]
    let tshark = ["-i", "lo", "-n", "-F", "pcapng", "-c", &count, "-w", ng_path, "-f", &filter];
    capture_and_read(&ns, "tshark", &tshark, &ng);
    let header = std::fs::read(&ng).expect("read");
    assert_eq!(header[..4], [0x0a, 0x0d, 0x0d, 0x0a], "a pcapng");
}
