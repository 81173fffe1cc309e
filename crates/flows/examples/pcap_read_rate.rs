//! Measures how fast `pcap::udp_datagrams` reads captures held in memory,
//! in records (packets) per second, for a classic pcap and a pcapng of the
//! same packets: Ethernet frames carrying IPv4 UDP datagrams of 200 bytes,
//! one in ten a TCP segment (skipped). Prints one JSON object.
//!
//! ```sh
//! cargo run --release -p portreeve-flows --example pcap_read_rate [PACKETS] [ROUNDS]
//! ```
//!
//! bench/pcap.sh runs it; the best of `ROUNDS` passes is the figure.

use std::time::Instant;

use portreeve_flows::pcap;
use portreeve_testkit::capture;

/// An Ethernet frame of an IPv4 packet, UDP (17) or TCP (6), with a
/// payload of `len` bytes.
fn frame(n: u32, proto: u8, len: usize) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    let total = (20 + 8 + len) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
    f.extend_from_slice(&(40_000 + (n % 1000) as u16).to_be_bytes());
    f.extend_from_slice(&2055u16.to_be_bytes());
    f.extend_from_slice(&((8 + len) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.resize(f.len() + len, n as u8);
    f
}

/// The best rate of `rounds` passes over `file`, and the datagrams found.
fn rate(file: &[u8], packets: u32, rounds: u32) -> (f64, usize) {
    let mut best = 0f64;
    let mut found = 0;
    for _ in 0..rounds {
        let start = Instant::now();
        found = 0;
        for d in pcap::udp_datagrams(file).expect("a capture") {
            std::hint::black_box(d.expect("whole").payload);
            found += 1;
        }
        best = best.max(f64::from(packets) / start.elapsed().as_secs_f64());
    }
    (best, found)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let packets: u32 = args
        .next()
        .map_or(1_000_000, |a| a.parse().expect("PACKETS"));
    let rounds: u32 = args.next().map_or(5, |a| a.parse().expect("ROUNDS"));
    let frames: Vec<(u64, Vec<u8>)> = (0..packets)
        .map(|n| {
            let proto = if n % 10 == 9 { 6 } else { 17 };
            (1_700_000_000_000_000 + u64::from(n), frame(n, proto, 200))
        })
        .collect();
    let classic = capture::pcap(1, &frames);
    let ng = capture::pcapng(1, 0, &frames);
    drop(frames);
    let (classic_rate, classic_found) = rate(&classic, packets, rounds);
    let (ng_rate, ng_found) = rate(&ng, packets, rounds);
    println!(
        "{{\"packets\":{packets},\"pcap_records_per_second\":{classic_rate:.0},\"pcap_udp_datagrams\":{classic_found},\"pcapng_records_per_second\":{ng_rate:.0},\"pcapng_udp_datagrams\":{ng_found},\"pcap_bytes\":{},\"pcapng_bytes\":{}}}",
        classic.len(),
        ng.len()
    );
}
