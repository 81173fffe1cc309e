//! Every probe the kernel's scan chain counts, as the agent's tier of scan
//! detection reads it: the chain logs each packet that reaches it to the
//! `[detection] log_group` NFLOG group, and this subscription turns each
//! logged packet into a [`portreeve_detect::Attempt`].
//!
//! The agent binds the group in its network namespace (an NFLOG group
//! has one reader per namespace: the kernel refuses a second with
//! `EPERM`, as it does a reader without CAP_NET_ADMIN) and asks for the first [`COPY_RANGE`] bytes of each packet:
//! enough for the IP header, its extension headers and the TCP or UDP
//! header, which is all an attempt needs. Each attempt's outcome is
//! [`Outcome::Rejected`]: the packet reached a port no rule allows, and
//! the ruleset answered it with a reset or dropped it; either way it
//! reached no service. Its time is the kernel's (`NFULA_TIMESTAMP`) when
//! the message carries one, else the time it was read.
//!
//! Messages are decoded with `netlink-packet-netfilter` (its `nflog`
//! module, 0.4), the packets by [`portreeve_detect::packet`].

use std::io;
use std::time::Duration;

use jiff::Timestamp;
use netlink_packet_core::{NetlinkBuffer, NetlinkMessage, NetlinkPayload, Nla};
use netlink_packet_netfilter::nflog::{
    ConfigCmd, ConfigMode, PacketNla, TimeStamp, ULogMessage, config_request,
};
use netlink_packet_netfilter::{NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily};
use netlink_sys::Socket;
use netlink_sys::protocols::NETLINK_NETFILTER;
use portreeve_detect::packet::attempt_from_ip;
use portreeve_detect::{Attempt, Outcome};

/// Bytes copied of each logged packet: an IPv6 header (40) with a few
/// extension headers, and a TCP header with options (at most 60).
pub const COPY_RANGE: u32 = 128;

/// How long [`Nflog::next_batch`] waits for a message, so its caller can
/// look at a stop flag between calls.
const READ_TIMEOUT: Duration = Duration::from_millis(200);

/// How many read timeouts [`Nflog::subscribe`] waits for the kernel's
/// answer to the bind: the kernel answers at once, so this only ends a
/// wait that would otherwise never end.
const ANSWER_READS: u32 = 10;

/// `ENOBUFS`: the kernel dropped messages the reader was too slow for.
const ENOBUFS: i32 = 105;
/// `EPERM`: how the kernel refuses a bind.
const EPERM: i32 = 1;

/// What one buffer read from an NFLOG socket holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    /// The attempts of the logged packets, in message order.
    pub attempts: Vec<Attempt>,
    /// Messages that carry no attempt: undecodable, a log message
    /// without a packet, or a packet that is not a TCP or UDP probe.
    pub malformed: u64,
    /// The kernel's answers to configuration requests: `0` for an
    /// acknowledgement, else the (positive) errno it refused with.
    pub answers: Vec<i32>,
}

/// Decodes a buffer of netlink messages from an NFLOG socket; `now` is the
/// time of a packet whose message has no timestamp. A message whose
/// length runs past the buffer ends it (and counts as malformed).
pub fn decode(mut buf: &[u8], now: Timestamp) -> Decoded {
    let mut out = Decoded::default();
    while !buf.is_empty() {
        let Ok(header) = NetlinkBuffer::new_checked(buf) else {
            out.malformed += 1;
            break;
        };
        let len = header.length() as usize;
        match NetlinkMessage::<NetfilterMessage>::deserialize(&buf[..len]) {
            Ok(NetlinkMessage {
                payload: NetlinkPayload::InnerMessage(message),
                ..
            }) => match logged_attempt(&message, now) {
                Some(attempt) => out.attempts.push(attempt),
                None => out.malformed += 1,
            },
            Ok(NetlinkMessage {
                payload: NetlinkPayload::Error(e),
                ..
            }) => out.answers.push(-e.raw_code()),
            Ok(_) => {}
            Err(e) => {
                tracing::debug!("undecodable NFLOG message: {e}");
                out.malformed += 1;
            }
        }
        buf = buf.get(len.next_multiple_of(4)..).unwrap_or(&[]);
    }
    out
}

/// The attempt of one `NFULNL_MSG_PACKET` message, if it carries a TCP or
/// UDP probe.
fn logged_attempt(message: &NetfilterMessage, now: Timestamp) -> Option<Attempt> {
    let NetfilterMessageInner::ULog(ULogMessage::Packet(attributes)) = &message.inner else {
        return None;
    };
    let mut packet = None;
    let mut at = now;
    for attribute in attributes {
        match attribute {
            PacketNla::Payload(bytes) => packet = Some(bytes.as_slice()),
            PacketNla::Timestamp(t) => at = kernel_time(t).unwrap_or(now),
            _ => {}
        }
    }
    attempt_from_ip(packet?, at, Outcome::Rejected)
}

/// `NFULA_TIMESTAMP`: seconds and microseconds, both 64-bit big-endian
/// (the crate keeps them private; its encoding is the wire's).
fn kernel_time(t: &TimeStamp) -> Option<Timestamp> {
    let mut raw = [0u8; 16];
    if t.value_len() != raw.len() {
        return None;
    }
    t.emit_value(&mut raw);
    let (secs, micros) = raw.split_at(8);
    let secs = i64::try_from(u64::from_be_bytes(secs.try_into().ok()?)).ok()?;
    let micros = u64::from_be_bytes(micros.try_into().ok()?);
    let nanos = i32::try_from(micros.checked_mul(1000)?).ok()?;
    Timestamp::new(secs, nanos).ok()
}

/// A subscription to one NFLOG group of the calling thread's network
/// namespace.
pub struct Nflog {
    socket: Socket,
    buf: Vec<u8>,
    /// Attempts read while waiting for the kernel's answer to the bind.
    pending: Vec<Attempt>,
    /// Messages skipped because they carried no attempt.
    pub malformed: u64,
    /// Times the kernel dropped messages because the reader fell behind
    /// (ENOBUFS); how many it dropped it does not say.
    pub overruns: u64,
}

impl Nflog {
    /// Binds `group` in copy-packet mode ([`COPY_RANGE`] bytes); needs
    /// CAP_NET_ADMIN. Fails with the kernel's error, which says
    /// "Operation not permitted" both without the capability and when
    /// another socket reads the group; the error says so.
    pub fn subscribe(group: u16) -> io::Result<Nflog> {
        let mut socket = Socket::new(NETLINK_NETFILTER)?;
        socket.bind_auto()?;
        // A fast scan is thousands of probes a second: room for a burst.
        let _ = socket.set_rx_buf_sz(8 << 20);
        rustix::net::sockopt::set_socket_timeout(
            &socket,
            rustix::net::sockopt::Timeout::Recv,
            Some(READ_TIMEOUT),
        )?;
        let mut request = config_request(
            NetfilterProtoFamily::Unspec,
            group,
            vec![
                ConfigCmd::Bind.into(),
                ConfigMode::new_packet(COPY_RANGE).into(),
            ],
        );
        request.header.sequence_number = 1;
        let mut bytes = vec![0; request.buffer_len()];
        request.serialize(&mut bytes);
        socket.send(&bytes, 0)?;
        let mut nflog = Nflog {
            socket,
            buf: vec![0; 1 << 16],
            pending: Vec::new(),
            malformed: 0,
            overruns: 0,
        };
        nflog.await_answer(group)?;
        Ok(nflog)
    }

    /// Reads until the kernel answers the bind, keeping any attempts
    /// that come first.
    fn await_answer(&mut self, group: u16) -> io::Result<()> {
        for _ in 0..ANSWER_READS {
            let Some(decoded) = self.read()? else {
                continue;
            };
            self.pending.extend(decoded.attempts);
            if let Some(&code) = decoded.answers.first() {
                return match code {
                    0 => Ok(()),
                    errno => Err(io::Error::other(format!(
                        "binding NFLOG group {group}: {}{}",
                        io::Error::from_raw_os_error(errno),
                        if errno == EPERM {
                            " (without CAP_NET_ADMIN, or another process, such as ulogd2, reads the group)"
                        } else {
                            ""
                        }
                    ))),
                };
            }
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("binding NFLOG group {group}: the kernel did not answer"),
        ))
    }

    /// The attempts of the next batch of messages, waiting at most
    /// 200 ms (an empty list then), so a caller can check for shutdown
    /// between calls.
    pub fn next_batch(&mut self) -> io::Result<Vec<Attempt>> {
        if !self.pending.is_empty() {
            return Ok(std::mem::take(&mut self.pending));
        }
        Ok(self.read()?.map(|d| d.attempts).unwrap_or_default())
    }

    /// One read, its malformed messages counted: `None` when nothing came
    /// in time, or the kernel dropped messages (counted too).
    fn read(&mut self) -> io::Result<Option<Decoded>> {
        match self.socket.recv(&mut &mut self.buf[..], 0) {
            Ok(n) => {
                let decoded = decode(&self.buf[..n], Timestamp::now());
                self.malformed += decoded.malformed;
                Ok(Some(decoded))
            }
            Err(e) if crate::nothing_yet(&e) => Ok(None),
            Err(e) if e.raw_os_error() == Some(ENOBUFS) => {
                self.overruns += 1;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portreeve_detect::{Probe, Transport};
    use portreeve_testkit::netlink::attr;

    /// `(NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET`, and the attribute
    /// types (`enum nfulnl_attr_type`) a logged packet carries.
    const MSG_PACKET: u16 = 4 << 8;
    const NFULA_PACKET_HDR: u16 = 1;
    const NFULA_TIMESTAMP: u16 = 3;
    const NFULA_PAYLOAD: u16 = 9;
    const NFULA_PREFIX: u16 = 10;
    /// `NLMSG_ERROR`.
    const MSG_ERROR: u16 = 2;

    fn message(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut msg = Vec::new();
        msg.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(&0u16.to_ne_bytes());
        msg.extend_from_slice(&[0; 8]);
        msg.extend_from_slice(payload);
        msg
    }

    /// An IPv4 TCP SYN from 10.9.0.1 to 10.9.0.2:`port`.
    fn syn(port: u16) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&40u16.to_be_bytes());
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 9, 0, 1]);
        p[16..20].copy_from_slice(&[10, 9, 0, 2]);
        p[20..22].copy_from_slice(&40000u16.to_be_bytes());
        p[22..24].copy_from_slice(&port.to_be_bytes());
        p[32] = 5 << 4;
        p[33] = 0x02;
        p
    }

    /// A logged packet as the kernel sends it for an inet table, with the
    /// kernel's time `secs`.`micros` when given.
    fn logged(packet: &[u8], time: Option<(u64, u64)>) -> Vec<u8> {
        let mut payload = vec![2, 0, 0, 7]; // AF_INET, version 0, group 7
        payload.extend(attr(NFULA_PACKET_HDR, &[0x08, 0x00, 1, 0]));
        if let Some((secs, micros)) = time {
            let mut t = secs.to_be_bytes().to_vec();
            t.extend_from_slice(&micros.to_be_bytes());
            payload.extend(attr(NFULA_TIMESTAMP, &t));
        }
        payload.extend(attr(NFULA_PREFIX, b"portreeve scan: \0"));
        payload.extend(attr(NFULA_PAYLOAD, packet));
        message(MSG_PACKET, &payload)
    }

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    #[test]
    fn logged_packets_become_attempts_at_the_kernels_time() {
        let mut buf = logged(&syn(22), Some((1_700_000_000, 250_000)));
        buf.extend(logged(&syn(23), None));
        let decoded = decode(&buf, now());
        let got: Vec<_> = decoded
            .attempts
            .iter()
            .map(|a| (a.at, a.port, a.probe, a.transport, a.outcome))
            .collect();
        let kernel_time = Timestamp::from_millisecond(1_700_000_000_250).unwrap();
        assert_eq!(
            got,
            [
                (
                    kernel_time,
                    22,
                    Probe::Syn,
                    Transport::Tcp,
                    Outcome::Rejected
                ),
                (now(), 23, Probe::Syn, Transport::Tcp, Outcome::Rejected),
            ]
        );
        assert_eq!(decoded.attempts[0].source.to_string(), "10.9.0.1");
        assert_eq!(decoded.malformed, 0);
    }

    #[test]
    fn the_kernels_answers_are_told_apart_from_packets() {
        // An acknowledgement, then EBUSY (another reader holds the group).
        let mut buf = message(MSG_ERROR, &[&0i32.to_ne_bytes()[..], &[0; 16]].concat());
        buf.extend(message(
            MSG_ERROR,
            &[&(-16i32).to_ne_bytes()[..], &[0; 16]].concat(),
        ));
        let decoded = decode(&buf, now());
        assert_eq!(decoded.answers, [0, 16]);
        assert!(decoded.attempts.is_empty());
    }

    #[test]
    fn malformed_messages_are_counted_without_panicking() {
        let good = logged(&syn(22), Some((1_700_000_000, 0)));
        for cut in 0..good.len() {
            let decoded = decode(&good[..cut], now());
            assert!(decoded.attempts.is_empty(), "cut at {cut}");
            assert_eq!(decoded.malformed, u64::from(cut > 0), "cut at {cut}");
        }
        let not_a_probe = logged(&syn(22)[..30], None);
        assert_eq!(decode(&not_a_probe, now()).malformed, 1);
        let mut lying = good.clone();
        lying[0..4].copy_from_slice(&9999u32.to_ne_bytes());
        assert_eq!(decode(&lying, now()).malformed, 1);
    }
}
