//! Properties of the readers behind `portreeve detect`, and of the
//! detector fed whatever they read.

use std::collections::HashSet;

use jiff::Timestamp;
use portreeve_detect::handshake::{Handshakes, PacketHeader, Segment};
use portreeve_detect::{Attempt, Trw, conn_log, detect_all, flow_csv};

/// Runs TRW over `attempts` and checks what it reports: only sources that
/// made attempts, each decided within its own attempts, no earlier than
/// its first.
fn detections_hold(attempts: Vec<Attempt>) {
    let sources: HashSet<_> = attempts.iter().map(|a| a.source).collect();
    let total = attempts.len() as u64;
    for d in detect_all(&mut Trw::default(), attempts) {
        assert!(sources.contains(&d.source), "{d:?}");
        assert!(d.attempts_before_decision >= 1 && d.attempts_before_decision <= total);
        assert!(d.first_seen <= d.last_seen, "{d:?}");
        assert!(d.ports.len() <= d.port_count && d.port_count >= 1, "{d:?}");
    }
}

/// The Zeek conn.log reader of `portreeve detect --zeek` (TSV with headers,
/// JSON lines): no input may panic, an error names a line that exists, and
/// a log that reads yields at most one attempt per line.
pub fn detect_conn_log(data: &[u8]) {
    let lines = data.split(|&b| b == b'\n').count() as u64;
    match conn_log::read(data) {
        Ok(attempts) => {
            assert!(attempts.len() as u64 <= lines);
            assert!(attempts.windows(2).all(|w| w[0].at <= w[1].at));
            detections_hold(attempts);
        }
        Err(e) => assert!(
            e.line >= 1 && e.line <= lines,
            "error on line {} of {lines}",
            e.line
        ),
    }
}

/// The nfdump CSV reader of `portreeve detect --flows`: no input may panic,
/// an error names a line that exists (and a column within that line), and
/// records that read yield at most one attempt per line, in time order.
pub fn detect_flow_csv(data: &[u8]) {
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    match flow_csv::read(data) {
        Ok(attempts) => {
            assert!(attempts.len() <= lines.len());
            assert!(attempts.windows(2).all(|w| w[0].at <= w[1].at));
            detections_hold(attempts);
        }
        Err(e) => {
            let line = usize::try_from(e.line).unwrap();
            assert!(line >= 1 && line <= lines.len(), "{e}");
            if let Some(column) = e.column {
                let fields = lines[line - 1].split(|&b| b == b',').count();
                assert!(column >= 1 && column <= fields, "{e}");
            }
        }
    }
}

/// `portreeve detect --pcap`: the capture's TCP and UDP headers, paired
/// into attempts. No capture may panic, and there are never more attempts
/// than packets.
pub fn detect_pcap(data: &[u8]) {
    let Ok(headers) = portreeve_flows::pcap::transport_headers(data) else {
        return;
    };
    let mut handshakes = Handshakes::new();
    let mut packets = 0usize;
    for header in headers {
        let Ok(header) = header else { break };
        packets += 1;
        let micros = i64::try_from(header.timestamp_us).unwrap_or(i64::MAX);
        let Ok(at) = Timestamp::from_microsecond(micros) else {
            continue;
        };
        handshakes.packet(&PacketHeader {
            at,
            from: header.src,
            to: header.dst,
            segment: header.tcp_flags.map_or(Segment::Udp, Segment::Tcp),
        });
    }
    let attempts = handshakes.finish();
    assert!(attempts.len() <= packets);
    detections_hold(attempts);
}

/// One raw IP packet, as the agent reads the scan chain's probes from
/// NFLOG: no input may panic, and an attempt read from it is of the IP
/// version the packet says, with a probe of its transport and the time
/// and outcome it was given.
pub fn detect_packet(data: &[u8]) {
    use portreeve_detect::packet::attempt_from_ip;
    use portreeve_detect::{Outcome, Probe, Transport};
    let at = Timestamp::from_second(1_700_000_000).unwrap();
    let Some(a) = attempt_from_ip(data, at, Outcome::Unanswered) else {
        return;
    };
    let version = data[0] >> 4;
    assert!(a.source.is_ipv4() == (version == 4), "{a:?}");
    assert!(a.destination.is_ipv4() == a.source.is_ipv4(), "{a:?}");
    assert_eq!(
        a.transport == Transport::Udp,
        a.probe == Probe::Udp,
        "{a:?}"
    );
    assert_eq!((a.at, a.outcome), (at, Outcome::Unanswered));
}
