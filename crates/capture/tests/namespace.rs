//! Captures of real traffic between network namespaces: the capture runs in
//! a target namespace, an offender probes it over a veth pair, and a third
//! host talks to it at the same time. tshark reads the files back.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use jiff::SignedDuration;
use portreeve_capture::{CaptureConfig, Captures, list};
use portreeve_testkit::{Netns, privileged, run, stderr, stdout};

/// The target (`t`), the offender (`p`, over IPv4 and IPv6) and a third
/// host (`x`), all linked to the target.
struct Hosts {
    target: Netns,
    peer: Netns,
    third: Netns,
}

const TARGET_V4: &str = "10.77.0.1";
const PEER_V4: &str = "10.77.0.2";
const TARGET_V6: &str = "2001:db8:77::1";
const PEER_V6: &str = "2001:db8:77::2";
const TARGET_FROM_THIRD: &str = "10.78.0.1";
const THIRD: &str = "10.78.0.2";

impl Hosts {
    fn new() -> Hosts {
        let (target, peer, third) = (Netns::bare(), Netns::bare(), Netns::bare());
        target.link(&peer, "10.77.0.1/24", "10.77.0.2/24");
        target.link(&peer, "2001:db8:77::1/64", "2001:db8:77::2/64");
        target.link(&third, "10.78.0.1/24", "10.78.0.2/24");
        Hosts {
            target,
            peer,
            third,
        }
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// Connects from `from` to each of `ports` on `to`: no listener there, so
/// each is a SYN answered by a RST.
fn probe(from: &Netns, to: &str, ports: impl IntoIterator<Item = u16>) {
    let to = ip(to);
    let ports: Vec<u16> = ports.into_iter().collect();
    from.run(|| {
        for port in ports {
            let refused =
                TcpStream::connect_timeout(&SocketAddr::new(to, port), Duration::from_secs(2));
            assert!(refused.is_err(), "nothing listens on {to} port {port}");
        }
    });
}

/// Settings with `packets` and `duration`, other limits as by default.
fn config(packets: u64, duration: SignedDuration) -> CaptureConfig {
    CaptureConfig {
        packets,
        duration,
        ..CaptureConfig::default()
    }
}

fn wait_until_idle(captures: &Captures, within: Duration) {
    let since = Instant::now();
    while captures.running() > 0 {
        assert!(
            since.elapsed() < within,
            "{} captures still running after {within:?}",
            captures.running()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One packet as tshark reads it: source, destination, TCP destination
/// port (none for anything but TCP).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Seen {
    src: String,
    dst: String,
    port: Option<u16>,
}

fn tshark(file: &Path) -> Vec<Seen> {
    let out = run(std::process::Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args([
            "-T",
            "fields",
            "-e",
            "ip.src",
            "-e",
            "ipv6.src",
            "-e",
            "ip.dst",
            "-e",
            "ipv6.dst",
            "-e",
            "tcp.dstport",
        ]));
    assert!(
        out.status.success(),
        "tshark -r {}: {}",
        file.display(),
        stderr(&out)
    );
    stdout(&out)
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 5, "{line:?}");
            Seen {
                src: format!("{}{}", f[0], f[1]),
                dst: format!("{}{}", f[2], f[3]),
                port: f[4].parse().ok(),
            }
        })
        .collect()
}

/// The TCP destination ports of the packets `from` sent.
fn ports_from(seen: &[Seen], from: &str) -> BTreeSet<u16> {
    seen.iter()
        .filter(|s| s.src == from)
        .filter_map(|s| s.port)
        .collect()
}

#[test]
fn a_capture_holds_the_offenders_packets_and_nothing_else() {
    if !privileged(
        "a_capture_holds_the_offenders_packets_and_nothing_else",
        &["ip", "tshark"],
    ) {
        return;
    }
    let hosts = Hosts::new();
    let dir = tempfile::tempdir().unwrap();
    let captures = Captures::new(
        dir.path().join("captures"),
        config(1000, SignedDuration::from_secs(2)),
    );
    let (v4, v6) = hosts.target.run(|| {
        (
            captures
                .start(ip(PEER_V4), "detection-1")
                .unwrap()
                .expect("a v4 capture"),
            captures
                .start(ip(PEER_V6), "detection-2")
                .unwrap()
                .expect("a v6 capture"),
        )
    });
    assert_eq!(captures.running(), 2);
    probe(&hosts.peer, TARGET_V4, 1..=10);
    probe(&hosts.peer, TARGET_V6, 11..=20);
    probe(&hosts.third, TARGET_FROM_THIRD, 1..=5);
    wait_until_idle(&captures, Duration::from_secs(5));

    // IPv4: the ten SYNs and the ten RSTs answering them, no more.
    let seen = tshark(&v4);
    assert_eq!(ports_from(&seen, PEER_V4), (1..=10).collect(), "{seen:#?}");
    assert_eq!(seen.len(), 20, "{seen:#?}");
    assert!(
        seen.iter().all(|s| (s.src == PEER_V4 && s.dst == TARGET_V4)
            || (s.src == TARGET_V4 && s.dst == PEER_V4)),
        "a packet not between {PEER_V4} and {TARGET_V4}: {seen:#?}"
    );
    // IPv6: the other ten ports; neighbour discovery may be there too,
    // but only to or from the offender's address.
    let seen = tshark(&v6);
    assert_eq!(ports_from(&seen, PEER_V6), (11..=20).collect(), "{seen:#?}");
    assert!(
        seen.iter().all(|s| s.src == PEER_V6 || s.dst == PEER_V6),
        "a packet neither from nor to {PEER_V6}: {seen:#?}"
    );
    assert_eq!(
        seen.iter().filter(|s| s.port.is_some()).count(),
        20,
        "{seen:#?}"
    );

    // The listing reads them back; files are private.
    let listed = list(&dir.path().join("captures")).unwrap();
    let summary: Vec<(IpAddr, &str, u64)> = listed
        .iter()
        .map(|c| (c.source, c.label.as_str(), c.packets))
        .collect();
    assert!(
        summary.contains(&(ip(PEER_V4), "detection-1", 20)),
        "{listed:#?}"
    );
    assert!(
        summary
            .iter()
            .any(|(source, label, _)| *source == ip(PEER_V6) && *label == "detection-2")
    );
    let written: u64 = listed.iter().map(|c| c.bytes).sum();
    assert_eq!(captures.bytes_written(), written);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&v4), 0o600);
    assert_eq!(mode(&dir.path().join("captures")), 0o700);
}

#[test]
fn the_packet_limit_ends_a_capture_at_exactly_that_many_packets() {
    if !privileged(
        "the_packet_limit_ends_a_capture_at_exactly_that_many_packets",
        &["ip", "tshark"],
    ) {
        return;
    }
    let hosts = Hosts::new();
    let dir = tempfile::tempdir().unwrap();
    let captures = Captures::new(
        dir.path().to_path_buf(),
        config(5, SignedDuration::from_secs(30)),
    );
    let file = hosts
        .target
        .run(|| captures.start(ip(PEER_V4), "limit").unwrap())
        .expect("a capture");
    probe(&hosts.peer, TARGET_V4, 1..=20);
    // Well before its 30 s: the fifth packet ended it.
    wait_until_idle(&captures, Duration::from_secs(5));
    assert_eq!(tshark(&file).len(), 5);
    assert_eq!(list(dir.path()).unwrap()[0].packets, 5);
}

#[test]
fn a_full_directory_rotates_out_the_oldest_capture() {
    if !privileged("a_full_directory_rotates_out_the_oldest_capture", &["ip"]) {
        return;
    }
    let hosts = Hosts::new();
    let dir = tempfile::tempdir().unwrap();
    let old = |name: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, vec![0u8; 3000]).unwrap();
        path
    };
    let oldest = old("20200101T000000.000Z-192.0.2.1-old.pcap");
    let older = old("20200102T000000.000Z-192.0.2.2-old.pcap");
    let captures = Captures::new(
        dir.path().to_path_buf(),
        CaptureConfig {
            bytes: 4096,
            total_bytes: 8192,
            ..config(1, SignedDuration::from_secs(1))
        },
    );
    // 6000 bytes held + 4096 for the new capture > 8192: the oldest goes.
    let new = hosts
        .target
        .run(|| captures.start(ip(PEER_V4), "new").unwrap());
    assert!(new.as_deref().is_some_and(Path::exists), "{new:?}");
    assert!(!oldest.exists(), "the oldest capture was kept");
    assert!(older.exists(), "more than the oldest capture was deleted");
    assert_eq!(captures.stopped_for_space(), 0);
}

#[test]
fn a_directory_with_no_room_gives_no_capture_and_the_caller_goes_on() {
    if !privileged(
        "a_directory_with_no_room_gives_no_capture_and_the_caller_goes_on",
        &["ip"],
    ) {
        return;
    }
    let hosts = Hosts::new();
    let dir = tempfile::tempdir().unwrap();
    // Room for one capture: the running one holds all of it.
    let captures = Captures::new(
        dir.path().to_path_buf(),
        CaptureConfig {
            bytes: 4096,
            total_bytes: 4096,
            ..config(1000, SignedDuration::from_secs(2))
        },
    );
    let (first, second) = hosts.target.run(|| {
        (
            captures.start(ip(PEER_V4), "first"),
            captures.start(ip(THIRD), "second"),
        )
    });
    assert!(first.unwrap().is_some());
    assert_eq!(second.unwrap(), None, "no room, so no capture and no error");
    assert_eq!(captures.stopped_for_space(), 1);
    // The capture that had room goes on recording.
    probe(&hosts.peer, TARGET_V4, 1..=3);
    wait_until_idle(&captures, Duration::from_secs(5));
    let listed = list(dir.path()).unwrap();
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0].packets, 6, "{listed:#?}");
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn new(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let out = run(std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path()));
        assert!(out.status.success(), "mount: {}", stderr(&out));
        SmallDisk { dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_disk_stops_the_capture_cleanly_and_is_counted() {
    if !privileged(
        "a_full_disk_stops_the_capture_cleanly_and_is_counted",
        &["ip", "mount", "tshark"],
    ) {
        return;
    }
    let hosts = Hosts::new();
    let disk = SmallDisk::new("16k");
    // The directory's limits allow far more than the disk holds.
    let captures = Captures::new(
        disk.dir.path().to_path_buf(),
        config(1000, SignedDuration::from_secs(30)),
    );
    let file = hosts
        .target
        .run(|| captures.start(ip(PEER_V4), "full").unwrap())
        .expect("a capture");
    probe(&hosts.peer, TARGET_V4, 1..=300);
    wait_until_idle(&captures, Duration::from_secs(5));
    assert_eq!(captures.stopped_for_space(), 1);
    // What was written is whole packets, each readable.
    let listed = list(disk.dir.path()).unwrap();
    let packets = listed[0].packets;
    assert!(packets > 0 && packets < 600, "{listed:#?}");
    assert_eq!(tshark(&file).len() as u64, packets);
    assert_eq!(captures.bytes_written(), listed[0].bytes);
}
