//! Listening sockets (and, for the lock-out guard, established TCP
//! connections) straight from the kernel, through NETLINK_SOCK_DIAG.
//!
//! The request asks the kernel to filter by state, so only listening TCP
//! sockets and unconnected UDP sockets cross into user space: on a host with
//! 60,000 established connections and 20,000 listeners we read 20,000
//! records, not 80,000. Parsing `/proc/net/tcp` instead would read and format
//! every socket in text, and cannot tell whether `IPV6_V6ONLY` is set.

use std::io;
use std::net::{IpAddr, SocketAddr};

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP};
use netlink_packet_sock_diag::inet::nlas::Nla;
use netlink_packet_sock_diag::inet::{
    ExtensionFlags, InetRequest, InetResponse, SocketId, StateFlags,
};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket, SocketAddr as NetlinkAddr};
use portreeve_core::{Family, Proto};

/// A socket as sock_diag reports it, before owners and names are attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KernelSocket {
    pub protocol: Proto,
    pub family: Family,
    pub address: IpAddr,
    pub port: u16,
    /// `SO_BINDTODEVICE` interface index, 0 when unbound.
    pub ifindex: u32,
    pub uid: u32,
    pub inode: u64,
    /// `IPV6_V6ONLY`, reported for IPv6 sockets only.
    pub v6only: Option<bool>,
}

/// Large enough for any dump batch the kernel sends (it caps them at 32 KiB
/// or the socket's receive buffer, whichever is smaller).
const RECV_BUFFER: usize = 256 * 1024;

/// Every listening TCP and bound unconnected UDP socket, IPv4 and IPv6, in
/// the network namespace of the calling thread.
pub(crate) fn dump_listening() -> io::Result<Vec<KernelSocket>> {
    let mut out = Vec::new();
    for protocol in Proto::ALL {
        // TCP: LISTEN only. UDP has no listen state: a bound, unconnected
        // UDP socket sits in TCP_CLOSE, which is what `ss -uln` lists too.
        let states = match protocol {
            Proto::Tcp => StateFlags::LISTEN,
            Proto::Udp => StateFlags::CLOSE,
        };
        dump_both_families(protocol, states, |family, r| {
            let v6only = r.nlas.iter().find_map(|n| match n {
                Nla::SkV6Only(v) => Some(*v),
                _ => None,
            });
            out.push(KernelSocket {
                protocol,
                family,
                address: r.header.socket_id.source_address,
                port: r.header.socket_id.source_port,
                ifindex: r.header.socket_id.interface_id,
                uid: r.header.uid,
                inode: u64::from(r.header.inode),
                v6only,
            });
        })?;
    }
    Ok(out)
}

/// An established TCP connection: this host's end and the peer's. An IPv4
/// peer of a dual-stack socket is given as IPv4, not as `::ffff:a.b.c.d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpConnection {
    /// This host's address and port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
}

/// Every established TCP connection, IPv4 and IPv6, in the network
/// namespace of the calling thread (the kernel filters by state, so nothing
/// else crosses into user space).
pub(crate) fn dump_established_tcp() -> io::Result<Vec<TcpConnection>> {
    let mut out = Vec::new();
    dump_both_families(Proto::Tcp, StateFlags::ESTABLISHED, |_, r| {
        let id = &r.header.socket_id;
        out.push(TcpConnection {
            local: SocketAddr::new(id.source_address.to_canonical(), id.source_port),
            remote: SocketAddr::new(id.destination_address.to_canonical(), id.destination_port),
        });
    })?;
    Ok(out)
}

/// Dumps `protocol` sockets in `states` of both families, handing each to
/// `each` with its family.
fn dump_both_families(
    protocol: Proto,
    states: StateFlags,
    mut each: impl FnMut(Family, InetResponse),
) -> io::Result<()> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&NetlinkAddr::new(0, 0))?;
    let mut buf = vec![0u8; RECV_BUFFER];
    for family in [Family::Ipv4, Family::Ipv6] {
        match dump_one(
            &mut socket,
            &mut buf,
            protocol,
            family,
            states.clone(),
            |r| each(family, r),
        ) {
            // A kernel without IPv6 (ipv6.disable=1) has nothing to report.
            Err(e)
                if family == Family::Ipv6
                    && e.raw_os_error() == Some(rustix::io::Errno::NOENT.raw_os_error()) => {}
            r => r?,
        }
    }
    Ok(())
}

fn dump_one(
    socket: &mut Socket,
    buf: &mut [u8],
    protocol: Proto,
    family: Family,
    states: StateFlags,
    mut each: impl FnMut(InetResponse),
) -> io::Result<()> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut request = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family: match family {
                Family::Ipv4 => AF_INET,
                Family::Ipv6 => AF_INET6,
            },
            protocol: match protocol {
                Proto::Tcp => IPPROTO_TCP,
                Proto::Udp => IPPROTO_UDP,
            },
            extensions: ExtensionFlags::empty(),
            states,
            socket_id: match family {
                Family::Ipv4 => SocketId::new_v4(),
                Family::Ipv6 => SocketId::new_v6(),
            },
        })
        .into(),
    );
    request.finalize();
    let mut bytes = vec![0u8; request.buffer_len()];
    request.serialize(&mut bytes);
    socket.send(&bytes, 0)?;

    loop {
        let size = socket.recv(&mut &mut buf[..], 0)?;
        let mut offset = 0;
        while offset < size {
            let message = NetlinkMessage::<SockDiagMessage>::deserialize(&buf[offset..size])
                .map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("sock_diag reply: {e}"))
                })?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::Done(_) => return Ok(()),
                NetlinkPayload::Error(e) => {
                    return Err(e.to_io());
                }
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => each(*r),
                _ => {}
            }
            if length == 0 {
                break;
            }
            offset += length;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::*;

    #[test]
    fn lists_both_ends_of_an_established_loopback_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_accepted, _) = listener.accept().unwrap();
        let (server_end, client_end) =
            (listener.local_addr().unwrap(), client.local_addr().unwrap());
        let found = dump_established_tcp().unwrap();
        assert!(
            found.contains(&TcpConnection {
                local: server_end,
                remote: client_end
            }),
            "{found:?}"
        );
        assert!(found.contains(&TcpConnection {
            local: client_end,
            remote: server_end
        }));
        assert!(
            found
                .iter()
                .all(|c| c.local != listener.local_addr().unwrap() || c.remote.port() != 0),
            "the listener itself is not established"
        );
    }
}
