//! New connections as the kernel's connection tracker announces them.
//!
//! The agent counts how each port is used. Where portreeve's own ruleset is
//! applied, its kernel set records the last access; elsewhere the
//! connection tracker does: subscribed to the ctnetlink multicast group
//! `NFNLGRP_CONNTRACK_NEW`, the agent hears of every new tracked flow
//! without polling the table. This needs CAP_NET_ADMIN, and conntrack
//! active in the namespace (any stateful firewall rule activates it).
//!
//! Messages are decoded with `netlink-packet-netfilter` (0.4 decodes
//! ctnetlink messages: the original tuple's addresses, protocol and ports),
//! in the family of the netlink crates the inventory already uses.

use std::io;
use std::net::IpAddr;
use std::time::Duration;

use netlink_packet_core::{NetlinkBuffer, NetlinkMessage, NetlinkPayload, ParseableParametrized};
use netlink_packet_netfilter::conntrack::{
    ConntrackAttribute, ConntrackMessage, IPTuple, ProtoTuple, Protocol, Tuple,
};
use netlink_packet_netfilter::{NetfilterMessage, NetfilterMessageInner};
use netlink_sys::protocols::NETLINK_NETFILTER;
use netlink_sys::{Socket, SocketAddr};
use portreeve_core::Proto;

/// Multicast group of new-connection events (`NFNLGRP_CONNTRACK_NEW`).
const GROUP_CONNTRACK_NEW: u32 = 1;
/// `(NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW`.
const MSG_CT_NEW: u16 = 1 << 8;

/// A new connection to a local port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewConnection {
    /// TCP or UDP.
    pub protocol: Proto,
    /// Who connected.
    pub source: IpAddr,
    /// The address connected to.
    pub destination: IpAddr,
    /// The port connected to.
    pub port: u16,
}

/// Parses the payload of one `IPCTNL_MSG_CT_NEW` message (after the
/// netlink header): the 4-byte `nfgenmsg`, then attributes. Returns `None`
/// for flows that are not TCP or UDP, and for anything malformed.
pub fn parse_new(payload: &[u8]) -> Option<NewConnection> {
    let message = NetfilterMessage::parse_with_param(payload, MSG_CT_NEW).ok()?;
    new_connection(&message)
}

/// The new connection a decoded netfilter message announces, if it is a
/// TCP or UDP `IPCTNL_MSG_CT_NEW` with a whole original tuple.
fn new_connection(message: &NetfilterMessage) -> Option<NewConnection> {
    let NetfilterMessageInner::Conntrack(ConntrackMessage::New(attributes)) = &message.inner else {
        return None;
    };
    let original = attributes.iter().find_map(|a| match a {
        ConntrackAttribute::CtaTupleOrig(tuple) => Some(tuple),
        _ => None,
    })?;
    let (mut source, mut destination, mut protocol, mut port) = (None, None, None, None);
    for part in original {
        match part {
            Tuple::Ip(ip) => {
                for a in ip {
                    match a {
                        IPTuple::SourceAddress(s) => source = Some(*s),
                        IPTuple::DestinationAddress(d) => destination = Some(*d),
                        _ => {}
                    }
                }
            }
            Tuple::Proto(proto) => {
                for a in proto {
                    match a {
                        ProtoTuple::Protocol(Protocol::Tcp) => protocol = Some(Proto::Tcp),
                        ProtoTuple::Protocol(Protocol::Udp) => protocol = Some(Proto::Udp),
                        ProtoTuple::DestinationPort(p) => port = Some(*p),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Some(NewConnection {
        protocol: protocol?,
        source: source?,
        destination: destination?,
        port: port?,
    })
}

/// Every new connection in a buffer of netlink messages. A message that
/// does not decode is skipped; one whose length runs past the buffer ends
/// it.
pub fn parse_messages(mut buf: &[u8]) -> Vec<NewConnection> {
    let mut out = Vec::new();
    while let Ok(header) = NetlinkBuffer::new_checked(buf) {
        let len = header.length() as usize;
        match NetlinkMessage::<NetfilterMessage>::deserialize(&buf[..len]) {
            Ok(NetlinkMessage {
                payload: NetlinkPayload::InnerMessage(message),
                ..
            }) => out.extend(new_connection(&message)),
            Ok(NetlinkMessage {
                payload: NetlinkPayload::Error(_),
                ..
            }) => tracing::debug!("ctnetlink sent an error message"),
            Ok(_) => {}
            Err(e) => tracing::debug!("undecodable ctnetlink message: {e}"),
        }
        buf = buf.get(len.next_multiple_of(4)..).unwrap_or(&[]);
    }
    out
}

/// A subscription to new-connection events of the current namespace.
pub struct Events {
    socket: Socket,
    buf: Vec<u8>,
    /// Events the kernel dropped because the agent fell behind (ENOBUFS).
    pub overruns: u64,
}

impl Events {
    /// Subscribes; needs CAP_NET_ADMIN.
    pub fn subscribe() -> io::Result<Events> {
        let mut socket = Socket::new(NETLINK_NETFILTER)?;
        socket.bind(&SocketAddr::new(0, 0))?;
        socket.add_membership(GROUP_CONNTRACK_NEW)?;
        // A burst of connections must not overflow the queue between reads.
        let _ = socket.set_rx_buf_sz(8 << 20);
        rustix::net::sockopt::set_socket_timeout(
            &socket,
            rustix::net::sockopt::Timeout::Recv,
            Some(Duration::from_millis(250)),
        )?;
        Ok(Events {
            socket,
            buf: vec![0; 1 << 16],
            overruns: 0,
        })
    }

    /// The new connections of the next batch of messages, waiting at most
    /// a quarter of a second (an empty list then), so a caller can check
    /// for shutdown between calls.
    pub fn next_batch(&mut self) -> io::Result<Vec<NewConnection>> {
        match self.socket.recv(&mut &mut self.buf[..], 0) {
            Ok(n) => Ok(parse_messages(&self.buf[..n])),
            Err(e) if crate::nothing_yet(&e) => Ok(Vec::new()),
            // The kernel dropped events: count it and carry on.
            Err(e) if e.raw_os_error() == Some(105) => {
                self.overruns += 1;
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;
    use portreeve_testkit::netlink::attr;

    /// Attribute types (`enum ctattr_type`, `ctattr_tuple`, `ctattr_ip`,
    /// `ctattr_l4proto`), to build events as the kernel does.
    const CTA_TUPLE_ORIG: u16 = 1;
    const CTA_TUPLE_IP: u16 = 1;
    const CTA_TUPLE_PROTO: u16 = 2;
    const CTA_IP_V4_SRC: u16 = 1;
    const CTA_IP_V4_DST: u16 = 2;
    const CTA_IP_V6_SRC: u16 = 3;
    const CTA_IP_V6_DST: u16 = 4;
    const CTA_PROTO_NUM: u16 = 1;
    const CTA_PROTO_DST_PORT: u16 = 3;

    fn nested(kind: u16, parts: &[Vec<u8>]) -> Vec<u8> {
        attr(kind | 0x8000, &parts.concat())
    }

    /// A ctnetlink NEW event as the kernel builds it.
    fn event(src: &[u8], dst: &[u8], proto: u8, dport: u16) -> Vec<u8> {
        let (s, d) = if src.len() == 4 {
            (CTA_IP_V4_SRC, CTA_IP_V4_DST)
        } else {
            (CTA_IP_V6_SRC, CTA_IP_V6_DST)
        };
        let tuple = nested(
            CTA_TUPLE_ORIG,
            &[
                nested(CTA_TUPLE_IP, &[attr(s, src), attr(d, dst)]),
                nested(
                    CTA_TUPLE_PROTO,
                    &[
                        attr(CTA_PROTO_NUM, &[proto]),
                        attr(2 | 0x4000, &40000u16.to_be_bytes()),
                        attr(CTA_PROTO_DST_PORT | 0x4000, &dport.to_be_bytes()),
                    ],
                ),
            ],
        );
        let mut payload = vec![2, 0, 0, 0];
        payload.extend(tuple);
        payload.extend(attr(3 | 0x4000, &[0, 0, 0, 8])); // CTA_STATUS
        let mut msg = Vec::new();
        msg.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&MSG_CT_NEW.to_ne_bytes());
        msg.extend_from_slice(&0x0600u16.to_ne_bytes());
        msg.extend_from_slice(&[0; 8]);
        msg.extend(payload);
        msg
    }

    #[test]
    fn new_events_give_source_destination_and_port() {
        let mut buf = event(&[10, 0, 0, 2], &[10, 0, 0, 1], 6, 8080);
        let v6src = "fd00::2".parse::<Ipv6Addr>().unwrap().octets();
        let v6dst = "fd00::1".parse::<Ipv6Addr>().unwrap().octets();
        buf.extend(event(&v6src, &v6dst, 17, 53));
        buf.extend(event(&[10, 0, 0, 2], &[10, 0, 0, 1], 1, 0)); // ICMP: skipped
        let got = parse_messages(&buf);
        assert_eq!(
            got,
            [
                NewConnection {
                    protocol: Proto::Tcp,
                    source: "10.0.0.2".parse().unwrap(),
                    destination: "10.0.0.1".parse().unwrap(),
                    port: 8080
                },
                NewConnection {
                    protocol: Proto::Udp,
                    source: "fd00::2".parse().unwrap(),
                    destination: "fd00::1".parse().unwrap(),
                    port: 53
                }
            ]
        );
    }

    #[test]
    fn malformed_messages_are_skipped_without_panicking() {
        let good = event(&[10, 0, 0, 2], &[10, 0, 0, 1], 6, 22);
        for cut in 0..good.len() {
            let _ = parse_messages(&good[..cut]);
            let _ = parse_new(&good[16..cut.max(16)]);
        }
        let mut lying = good.clone();
        lying[0..4].copy_from_slice(&9999u32.to_ne_bytes());
        assert!(parse_messages(&lying).is_empty());
        let mut zero_attr = good.clone();
        zero_attr[20..22].copy_from_slice(&0u16.to_ne_bytes());
        assert!(parse_messages(&zero_attr).is_empty());
    }
}
