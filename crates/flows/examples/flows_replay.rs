//! Replays the export datagrams of real captures over UDP at a paced rate,
//! for load-testing flow collectors (bench/flows.sh), and a trivial drain
//! to measure the sender alone. Prints one JSON object when done.
//!
//! ```sh
//! # Send: the setup datagrams (templates, options) first, then the data
//! # datagrams over and over, the setup again before every 1000th data
//! # datagram; 50,000 datagrams/s for 3 s.
//! cargo run --release -p portreeve-flows --example flows_replay -- \
//!     --to 127.0.0.1:2055 --rate 50000 --seconds 3 \
//!     --setup netflow/multiplesamplingrates-options-template.pcap,netflow/multiplesamplingrates-options-data.pcap,netflow/multiplesamplingrates-template.pcap \
//!     --data netflow/multiplesamplingrates-data.pcap
//! # Describe a stream without sending it: datagrams, bytes, and the flow
//! # records portreeve's decoder finds in each data datagram.
//! … flows_replay -- --describe --setup … --data …
//! # Receive and count, nothing else (a trivial collector).
//! … flows_replay -- --drain 127.0.0.1:2055 --seconds 10
//! ```
//!
//! Options:
//! - `--to ADDRESS:PORT`: where to send; the source is an ephemeral port on
//!   the matching loopback address (`127.0.0.1` or `::1`) unless `--from`.
//! - `--setup FILES`, `--data FILES`: comma-separated pcap files, relative
//!   to `../shared/testdata/flows` unless they exist as given. Every UDP
//!   payload in them is a datagram to send.
//! - `--rate N`: datagrams per second, setup datagrams included; 0 (the
//!   default) sends as fast as it can. Pacing: datagram `i` is due at
//!   `i / N` seconds after the start. The sender sends every datagram that
//!   is due (in `sendmmsg` batches of at most 64, reading the clock again
//!   after each), then sleeps until the next one is due but at least
//!   `--pace-us` (default 250 µs; 0 to sleep
//!   exactly until then), so it does not spin between datagrams a few
//!   microseconds apart: traffic comes in bursts of about N × 0.3 ms
//!   datagrams (the sleep plus the timer's slack), and the average rate is
//!   exact unless the sender cannot keep up (then `rate` in the output is
//!   below `requested_rate`).
//! - `--seconds S` (default 3) and `--count N`: stop after S seconds or N
//!   datagrams, whichever comes first; with a rate, N defaults to rate × S
//!   and the time limit to 1.25 × S (so a sender that keeps up always
//!   sends N, and one that cannot stops soon after S).
//! - `--setup-every N` (default 1000): send the setup datagrams again
//!   before every N-th data datagram, as exporters refresh templates, so a
//!   collector that lost them recovers.
//! - `--no-sequence`: send the datagrams as captured. By default the
//!   sequence numbers of NetFlow v9 (one per datagram) and IPFIX (one per
//!   data record) headers are rewritten to count up per exporter and source
//!   ID / observation domain, as a live exporter's do, so a collector that
//!   tracks them (nfcapd) counts a lost datagram as a sequence error rather
//!   than seeing an error on every datagram of a replayed loop.
//! - `--no-gso`: one buffer per datagram. By default, when every data
//!   datagram has the same size and no setup datagram is larger, the
//!   socket gets UDP generic segmentation offload (`UDP_SEGMENT`) with that
//!   size and runs of consecutive data datagrams go to the kernel as one
//!   buffer each, which it splits into the same datagrams: on loopback the
//!   sender's CPU pays for delivering every datagram to the receiver, and
//!   segmentation makes that about half as dear, so the collectors, not
//!   the sender, are the limit. Receivers see ordinary datagrams.
//! - `--drain ADDRESS:PORT`: bind there and count what arrives (received
//!   in batches, as `portreeve collect` receives), until S seconds have
//!   passed or nothing arrived for `--idle` seconds (default 1) after the
//!   first datagram.
//!
//! Output (send): `{"sent", "sent_setup", "sent_data", "send_errors",
//! "seconds", "rate", "requested_rate", "records_per_data_datagram",
//! "bytes_sent"}`; `records_per_data_datagram` is what portreeve's decoder
//! finds in the data datagrams once it has the setup ones (for sizing
//! records/s). Output (drain): `{"received", "bytes", "seconds", "rate"}`.

use std::collections::HashMap;
use std::io::{ErrorKind, IoSlice};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::socket::{setsockopt, sockopt};
use portreeve_flows::{BatchReceiver, DatagramBatch, Decoder, pcap};
use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, sendmmsg};

/// At most this many datagrams are sent back to back before the clock is
/// read again.
const BURST: u64 = 64;

#[derive(Debug)]
struct Options {
    to: Option<SocketAddr>,
    from: Option<SocketAddr>,
    drain: Option<SocketAddr>,
    setup: Vec<String>,
    data: Vec<String>,
    rate: f64,
    seconds: f64,
    count: Option<u64>,
    setup_every: usize,
    idle: f64,
    pace: f64,
    gso: bool,
    sequence: bool,
    describe: bool,
}

fn usage(message: &str) -> ! {
    eprintln!(
        "flows_replay: {message}\n\
         usage: flows_replay --to ADDR --setup FILES --data FILES [--rate N] [--seconds S] \
         [--count N] [--setup-every N] [--pace-us N] [--no-sequence] [--no-gso] [--from ADDR]\n\
         \x20      flows_replay --describe --setup FILES --data FILES\n\
         \x20      flows_replay --drain ADDR [--seconds S] [--idle S]"
    );
    std::process::exit(2);
}

fn parse_options() -> Options {
    let mut o = Options {
        to: None,
        from: None,
        drain: None,
        setup: Vec::new(),
        data: Vec::new(),
        rate: 0.0,
        seconds: 3.0,
        count: None,
        setup_every: 1000,
        idle: 1.0,
        pace: 250e-6,
        gso: true,
        sequence: true,
        describe: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        fn num<T: std::str::FromStr>(flag: &str, v: String) -> T {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{flag}: not a number: {v}")))
        }
        fn addr(flag: &str, v: String) -> SocketAddr {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{flag}: not an ADDRESS:PORT: {v}")))
        }
        fn files(v: String) -> Vec<String> {
            v.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        }
        match flag.as_str() {
            "--to" => o.to = Some(addr(&flag, value())),
            "--from" => o.from = Some(addr(&flag, value())),
            "--drain" => o.drain = Some(addr(&flag, value())),
            "--setup" => o.setup.extend(files(value())),
            "--data" => o.data.extend(files(value())),
            "--rate" => o.rate = num(&flag, value()),
            "--seconds" => o.seconds = num(&flag, value()),
            "--count" => o.count = Some(num(&flag, value())),
            "--setup-every" => o.setup_every = num(&flag, value()),
            "--idle" => o.idle = num(&flag, value()),
            "--pace-us" => o.pace = num::<f64>(&flag, value()) / 1e6,
            "--no-sequence" => o.sequence = false,
            "--no-gso" => o.gso = false,
            "--describe" => o.describe = true,
            "-h" | "--help" => usage("help"),
            _ => usage(&format!("unknown option {flag}")),
        }
    }
    if !(o.rate >= 0.0 && o.rate.is_finite() && o.seconds > 0.0 && o.seconds.is_finite()) {
        usage("--rate must be >= 0 and --seconds > 0");
    }
    if !(o.pace >= 0.0 && o.pace.is_finite()) {
        usage("--pace-us must be >= 0");
    }
    if o.setup_every == 0 {
        usage("--setup-every must be at least 1");
    }
    o
}

/// The UDP payloads of one capture.
fn datagrams(file: &str) -> Vec<Vec<u8>> {
    let testdata = portreeve_testkit::testdata("flows");
    let path = if Path::new(file).exists() {
        PathBuf::from(file)
    } else {
        testdata.join(file)
    };
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| usage(&format!("cannot read {}: {e}", path.display())));
    pcap::udp_datagrams(&bytes)
        .and_then(|it| {
            it.map(|d| d.map(|d| d.payload.to_vec()))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap_or_else(|e| usage(&format!("{}: {e}", path.display())))
}

/// What a datagram is, for rewriting its sequence number.
#[derive(Debug, Clone, Copy)]
enum Sequence {
    /// Not rewritten.
    None,
    /// NetFlow v9: one per datagram, per source ID.
    V9 { source_id: u32 },
    /// IPFIX: the data records sent before this datagram, per domain.
    Ipfix { domain: u32, records: u32 },
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// One datagram of the send cycle.
struct Entry {
    bytes: Vec<u8>,
    setup: bool,
    sequence: Sequence,
}

/// The stream: the setup datagrams, then `setup_every` data datagrams
/// (the data files repeated), over and over. Also returns the flow records
/// portreeve's decoder finds per data datagram, once it has the setup.
fn build_cycle(o: &Options) -> (Vec<Entry>, f64) {
    let setup: Vec<Vec<u8>> = o.setup.iter().flat_map(|f| datagrams(f)).collect();
    let data: Vec<Vec<u8>> = o.data.iter().flat_map(|f| datagrams(f)).collect();
    if data.is_empty() {
        usage("no data datagrams: give --data FILES");
    }
    // Records per datagram, as portreeve decodes them in steady state: the
    // setup, one pass to learn templates carried in data files, then count.
    let exporter: SocketAddr = (Ipv4Addr::LOCALHOST, 9).into();
    let mut decoder = Decoder::default();
    let mut out = Vec::new();
    for d in setup.iter().chain(&data) {
        out.clear();
        let _ = decoder.decode(exporter, d, 0, &mut out);
    }
    let mut records_of = |d: &[u8]| {
        out.clear();
        decoder.decode(exporter, d, 0, &mut out).unwrap_or(0) as u32
    };
    let setup_records: Vec<u32> = setup.iter().map(|d| records_of(d)).collect();
    let data_records: Vec<u32> = data.iter().map(|d| records_of(d)).collect();
    let per_data = f64::from(data_records.iter().sum::<u32>()) / data.len() as f64;
    let entry = |bytes: &Vec<u8>, setup: bool, records: u32| {
        let sequence = match (bytes.get(..2), o.sequence) {
            (Some([0, 9]), true) if bytes.len() >= 20 => Sequence::V9 {
                source_id: be_u32(bytes, 16).unwrap_or(0),
            },
            (Some([0, 10]), true) if bytes.len() >= 16 => Sequence::Ipfix {
                domain: be_u32(bytes, 12).unwrap_or(0),
                records,
            },
            _ => Sequence::None,
        };
        Entry {
            bytes: bytes.clone(),
            setup,
            sequence,
        }
    };
    let mut cycle: Vec<Entry> = setup
        .iter()
        .zip(&setup_records)
        .map(|(d, &r)| entry(d, true, r))
        .collect();
    cycle.extend(
        data.iter()
            .zip(&data_records)
            .cycle()
            .take(o.setup_every.max(data.len()))
            .map(|(d, &r)| entry(d, false, r)),
    );
    (cycle, per_data)
}

fn describe(o: &Options) {
    let (cycle, per_data) = build_cycle(o);
    let (setup, data): (Vec<&Entry>, Vec<&Entry>) = cycle.iter().partition(|e| e.setup);
    let size = |v: &[&Entry]| v.iter().map(|e| e.bytes.len()).sum::<usize>();
    let report = serde_json::json!({
        "setup_datagrams": setup.len(),
        "setup_bytes": size(&setup),
        "data_datagrams_per_cycle": data.len(),
        "mean_data_datagram_bytes": size(&data) as f64 / data.len() as f64,
        "records_per_data_datagram": per_data,
    });
    println!("{report}");
}

fn send(o: &Options, to: SocketAddr) {
    let (mut cycle, per_data) = build_cycle(o);
    let from = o.from.unwrap_or(match to {
        SocketAddr::V4(_) => (Ipv4Addr::LOCALHOST, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::LOCALHOST, 0).into(),
    });
    let socket = UdpSocket::bind(from).unwrap_or_else(|e| usage(&format!("bind {from}: {e}")));
    // A connected socket: the route is looked up once, not per datagram.
    socket
        .connect(to)
        .unwrap_or_else(|e| usage(&format!("connect {to}: {e}")));
    let gso = if o.gso { gso_size(&cycle) } else { None };
    if let Some(size) = gso {
        setsockopt(&socket, sockopt::UdpGsoSegment, &i32::from(size))
            .unwrap_or_else(|e| usage(&format!("UDP_SEGMENT: {e} (try --no-gso)")));
    }
    let count = o.count.unwrap_or(if o.rate > 0.0 {
        (o.rate * o.seconds).round() as u64
    } else {
        u64::MAX
    });
    // With a rate, the count ends the run (the clock would cut the last
    // sleep's worth short); the time limit only stops a sender that cannot
    // keep up from running much longer than asked.
    let budget = Duration::from_secs_f64(if o.rate > 0.0 && o.count.is_none() {
        o.seconds * 1.25
    } else {
        o.seconds
    });
    let (mut v9_seq, mut ipfix_seq): (HashMap<u32, u32>, HashMap<u32, u32>) = Default::default();
    let (mut sent, mut sent_setup, mut errors, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    let mut next = 0usize;
    let cycle_len = cycle.len();
    let start = Instant::now();
    let mut elapsed = Duration::ZERO;
    while sent < count && elapsed < budget {
        let due = if o.rate > 0.0 {
            ((elapsed.as_secs_f64() * o.rate) as u64 + 1).min(count)
        } else {
            count.min(sent + BURST)
        };
        if due <= sent {
            // Early: sleep until the next datagram is due, but at least
            // `pace`, so that the sender wakes up to a batch rather than
            // spinning between datagrams a few microseconds apart (the CPU
            // is shared with the kernel's delivery and the collector).
            let wait = sent as f64 / o.rate - elapsed.as_secs_f64();
            std::thread::sleep(Duration::from_secs_f64(wait.max(o.pace)));
        }
        // Number the batch's datagrams, then hand them to the kernel in
        // one sendmmsg call (a send per datagram made the sender, not the
        // collectors, the limit of the ingest benchmark). A batch never
        // holds a datagram of the cycle twice: both would carry the
        // sequence number written last.
        let batch_end = due.min(sent + BURST.min(cycle_len as u64));
        let mut batch = Vec::with_capacity(BURST as usize);
        while sent + (batch.len() as u64) < batch_end {
            let e = &mut cycle[next];
            batch.push(next);
            next = (next + 1) % cycle_len;
            match e.sequence {
                Sequence::None => {}
                Sequence::V9 { source_id } => {
                    let s = v9_seq.entry(source_id).or_default();
                    e.bytes[12..16].copy_from_slice(&s.to_be_bytes());
                    *s = s.wrapping_add(1);
                }
                Sequence::Ipfix { domain, records } => {
                    let s = ipfix_seq.entry(domain).or_default();
                    e.bytes[8..12].copy_from_slice(&s.to_be_bytes());
                    *s = s.wrapping_add(records);
                }
            }
        }
        let outcome = send_batch(&socket, batch.iter().map(|&i| &cycle[i].bytes[..]), gso);
        bytes += outcome.bytes;
        errors += outcome.errors;
        sent += batch.len() as u64;
        sent_setup += batch.iter().filter(|&&i| cycle[i].setup).count() as u64;
        elapsed = start.elapsed();
    }
    let seconds = elapsed.as_secs_f64();
    let report = serde_json::json!({
        "to": to.to_string(),
        "sent": sent,
        "sent_setup": sent_setup,
        "sent_data": sent - sent_setup,
        "send_errors": errors,
        "bytes_sent": bytes,
        "seconds": (seconds * 1e6).round() / 1e6,
        "rate": (sent as f64 / seconds).round(),
        "requested_rate": o.rate,
        "records_per_data_datagram": per_data,
        "gso_size": gso,
    });
    println!("{report}");
}

/// The segment size for UDP GSO: the data datagrams' common size, if they
/// have one and no setup datagram is larger (a larger one would be cut).
fn gso_size(cycle: &[Entry]) -> Option<u16> {
    let mut data = cycle.iter().filter(|e| !e.setup).map(|e| e.bytes.len());
    let size = data.next()?;
    let uniform = data.all(|n| n == size);
    let setup_fits = cycle
        .iter()
        .filter(|e| e.setup)
        .all(|e| e.bytes.len() <= size);
    (uniform && setup_fits).then(|| u16::try_from(size).ok())?
}

/// Most datagrams in one GSO buffer: the kernel's limit on segments
/// (UDP_MAX_SEGMENTS is 64 in older kernels, 128 in newer ones).
const GSO_SEGMENTS: usize = 64;

/// What one [`send_batch`] did.
struct BatchOutcome {
    bytes: u64,
    errors: u64,
}

/// Sends every datagram with as few `sendmmsg` calls as the kernel allows;
/// with `gso`, runs of datagrams of exactly that size go as one message
/// each (their buffers as the message's pieces: nothing is copied), which
/// the kernel splits into the same datagrams. A message the kernel refuses
/// (ECONNREFUSED while nobody listens yet, ENOBUFS) counts each of its
/// datagrams as an error and as sent, as a lost one would.
fn send_batch<'a>(
    socket: &UdpSocket,
    datagrams: impl Iterator<Item = &'a [u8]>,
    gso: Option<u16>,
) -> BatchOutcome {
    let iovs: Vec<IoSlice<'_>> = datagrams.map(IoSlice::new).collect();
    // Messages as ranges of `iovs`.
    let mut messages: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = 0;
    while start < iovs.len() {
        let run = match gso {
            Some(size) => iovs[start..]
                .iter()
                .take(GSO_SEGMENTS.min(65_507 / usize::from(size).max(1)))
                .take_while(|d| d.len() == usize::from(size))
                .count()
                .max(1),
            None => 1,
        };
        messages.push(start..start + run);
        start += run;
    }
    let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> = messages
        .iter()
        .map(|_| SendAncillaryBuffer::default())
        .collect();
    let mut headers: Vec<MMsgHdr<'_>> = messages
        .iter()
        .zip(controls.iter_mut())
        .map(|(m, control)| MMsgHdr::new(&iovs[m.clone()], control))
        .collect();
    let mut outcome = BatchOutcome {
        bytes: 0,
        errors: 0,
    };
    let mut at = 0;
    while at < headers.len() {
        match sendmmsg(socket, &mut headers[at..], SendFlags::empty()) {
            Ok(0) => {
                outcome.errors += messages[at].len() as u64;
                at += 1;
            }
            Ok(n) => {
                outcome.bytes += headers[at..at + n]
                    .iter()
                    .map(|h| h.bytes_sent() as u64)
                    .sum::<u64>();
                at += n;
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => {
                outcome.errors += messages[at].len() as u64;
                at += 1;
            }
        }
    }
    outcome
}

fn drain(o: &Options, at: SocketAddr) {
    let socket = UdpSocket::bind(at).unwrap_or_else(|e| usage(&format!("bind {at}: {e}")));
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("read timeout");
    let (mut receiver, mut batch) = (BatchReceiver::new(), DatagramBatch::new());
    let (mut received, mut bytes) = (0u64, 0u64);
    let start = Instant::now();
    let (mut first, mut last) = (None::<Instant>, start);
    let budget = Duration::from_secs_f64(o.seconds);
    let idle = Duration::from_secs_f64(o.idle);
    loop {
        match receiver.receive(&socket, &mut batch) {
            Ok(n) => {
                last = Instant::now();
                first.get_or_insert(last);
                received += n as u64;
                bytes += batch.datagrams().map(|(_, d)| d.len() as u64).sum::<u64>();
                continue;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => usage(&format!("receive: {e}")),
        }
        if start.elapsed() >= budget || (first.is_some() && last.elapsed() >= idle) {
            break;
        }
    }
    let seconds = first.map_or(0.0, |f| (last - f).as_secs_f64());
    let report = serde_json::json!({
        "at": at.to_string(),
        "received": received,
        "bytes": bytes,
        "seconds": (seconds * 1e6).round() / 1e6,
        "rate": if seconds > 0.0 { (received as f64 / seconds).round() } else { 0.0 },
    });
    println!("{report}");
}

fn main() {
    let o = parse_options();
    match (o.describe, o.drain, o.to) {
        (true, _, _) => describe(&o),
        (false, Some(at), _) => drain(&o, at),
        (false, None, Some(to)) => send(&o, to),
        (false, None, None) => usage("give --to ADDRESS:PORT, --drain ADDRESS:PORT or --describe"),
    }
}
