//! The packet socket a capture reads: `AF_PACKET`, `SOCK_DGRAM`,
//! `ETH_P_ALL`, unbound (every interface of the network namespace it was
//! opened in), with a classic BPF filter attached so the kernel copies only
//! the packets the filter accepts.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use rustix::io::Errno;
use rustix::net::sockopt::{self, Timeout};
use rustix::net::{AddressFamily, RecvFlags, SocketType, eth, recv, socket};

use crate::filter::Instruction;

/// A filtered packet socket with a read timeout.
pub(crate) struct PacketSocket {
    fd: OwnedFd,
}

/// One packet read: its bytes (at most the buffer's length) and its full
/// length on the wire.
pub(crate) struct Packet<'b> {
    pub data: &'b [u8],
    pub length: usize,
}

impl PacketSocket {
    /// Opens the socket in the calling thread's network namespace (needs
    /// `CAP_NET_RAW` there) and attaches `filter`. The socket receives from
    /// the moment it exists, so first a filter that takes nothing goes on,
    /// the packets that came before it are read and thrown away, and only
    /// then `filter` replaces it: nothing unfiltered is ever written.
    pub fn open(filter: &[Instruction], timeout: Duration) -> io::Result<PacketSocket> {
        let fd = socket(AddressFamily::PACKET, SocketType::DGRAM, Some(eth::ALL))?;
        attach_filter(&fd, &crate::filter::nothing())?;
        let mut scratch = [0u8; 1];
        loop {
            match recv(&fd, &mut scratch[..], RecvFlags::DONTWAIT) {
                Ok(_) => continue,
                Err(Errno::AGAIN) => break,
                Err(e) => return Err(e.into()),
            }
        }
        attach_filter(&fd, filter)?;
        sockopt::set_socket_timeout(&fd, Timeout::Recv, Some(timeout))?;
        Ok(PacketSocket { fd })
    }

    /// The next packet into `buffer`, or `None` when the read timeout
    /// passed (or a signal came) first.
    pub fn receive<'b>(&self, buffer: &'b mut [u8]) -> io::Result<Option<Packet<'b>>> {
        match recv(&self.fd, &mut *buffer, RecvFlags::TRUNC) {
            Ok((kept, length)) => Ok(Some(Packet {
                data: &buffer[..kept],
                length,
            })),
            Err(Errno::AGAIN | Errno::INTR) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// `setsockopt(SO_ATTACH_FILTER)`: the one call here that rustix does not
/// wrap.
#[allow(unsafe_code)]
fn attach_filter(fd: &OwnedFd, filter: &[Instruction]) -> io::Result<()> {
    let mut instructions: Vec<libc::sock_filter> = filter
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let program = libc::sock_fprog {
        len: u16::try_from(instructions.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "filter too long"))?,
        filter: instructions.as_mut_ptr(),
    };
    // SAFETY: `program` points at `instructions`, which outlive the call;
    // the kernel copies the program and keeps no pointer to it; the length
    // passed is the size of the `sock_fprog` given.
    let done = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&program as *const libc::sock_fprog).cast(),
            size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if done == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
