//! Receiving datagrams from a UDP socket in batches, for the collector
//! (and the benchmark's trivial receiver, so both pay the same receive
//! cost).

use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg};

/// Datagrams received per `recvmmsg` call at most. A full batch is 2 MiB
/// of buffers per socket; batching matters when the queue is backed up,
/// which is when a collector must be fastest.
const BATCH: usize = 32;
/// Largest UDP payload over IPv4 or IPv6 without jumbograms.
const MAX_DATAGRAM: usize = 65_535;
/// Distance between two datagrams' buffers in a batch's one allocation:
/// one cache line more than 64 KiB, so that the datagrams' first bytes do
/// not all fall in the same cache sets (free to do; no difference showed
/// in the benchmark on this project's VM).
const STRIDE: usize = (MAX_DATAGRAM + 1) + 64;

/// Datagrams received together, and the buffers they were received into.
/// Kept apart from the [`BatchReceiver`]: nix's message headers cannot
/// leave the receiving thread, a batch is plain owned data that can.
pub struct DatagramBatch {
    /// [`BATCH`] buffers of [`MAX_DATAGRAM`] bytes, [`STRIDE`] apart.
    arena: Vec<u8>,
    /// Length and sender of each datagram received.
    received: Vec<(usize, Option<SocketAddr>)>,
}

impl DatagramBatch {
    /// Room for a full batch of the largest datagrams.
    pub fn new() -> DatagramBatch {
        DatagramBatch {
            arena: vec![0; BATCH * STRIDE],
            received: Vec::with_capacity(BATCH),
        }
    }

    /// The datagrams with their senders (datagrams from no address, which
    /// UDP cannot produce, are skipped).
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.received
            .iter()
            .zip(self.arena.chunks(STRIDE))
            .filter_map(|(&(n, from), buf)| Some((from?, &buf[..n])))
    }
}

impl Default for DatagramBatch {
    fn default() -> Self {
        Self::new()
    }
}

/// Receives datagrams in batches: one `recvmmsg` system call returns every
/// datagram already queued (up to 32), waiting only for the first.
/// A call per datagram was a third of the collector's CPU time at high
/// rates; std has no batch receive, rustix no `recvmmsg`, so this uses nix.
pub struct BatchReceiver {
    headers: MultiHeaders<SockaddrStorage>,
}

impl BatchReceiver {
    /// A receiver for batches of up to 32 datagrams.
    pub fn new() -> BatchReceiver {
        BatchReceiver {
            headers: MultiHeaders::preallocate(BATCH, None),
        }
    }

    /// Waits for at least one datagram (bounded by the socket's read
    /// timeout), then takes every queued one up to the batch size into
    /// `batch`, replacing what it held.
    pub fn receive(&mut self, socket: &UdpSocket, batch: &mut DatagramBatch) -> io::Result<usize> {
        batch.received.clear();
        // On the stack: this runs for every batch.
        let mut buffers = batch.arena.chunks_mut(STRIDE);
        let mut slices: [[IoSliceMut<'_>; 1]; BATCH] = std::array::from_fn(|_| {
            let buffer = buffers.next().expect("the arena holds BATCH buffers");
            [IoSliceMut::new(&mut buffer[..MAX_DATAGRAM])]
        });
        let results = recvmmsg(
            socket.as_raw_fd(),
            &mut self.headers,
            slices.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        )?;
        batch.received.extend(results.map(|m| {
            let from = m.address.and_then(|a| {
                a.as_sockaddr_in()
                    .map(|v4| SocketAddr::V4((*v4).into()))
                    .or_else(|| a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into())))
            });
            (m.bytes, from)
        }));
        Ok(batch.received.len())
    }
}

impl Default for BatchReceiver {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Every queued datagram comes back in one batch, whole and in order,
    /// with its sender; the largest UDP payload fits. Both sockets are on
    /// the loopback of a namespace of the test's own.
    fn round_trip(test: &str, local: &str) {
        portreeve_testkit::in_fresh_netns(test, || {
            if portreeve_testkit::skip_unless(
                test,
                UdpSocket::bind(local).is_ok(),
                format_args!("cannot bind {local}"),
            ) {
                round_trip_here(local);
            }
        });
    }

    /// The round trip itself, on the loopback of the calling thread's namespace.
    fn round_trip_here(local: &str) {
        let receiver = UdpSocket::bind(local).unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let sender = UdpSocket::bind(local).unwrap();
        let sizes = [1, 1344, 9000, 65_507];
        for (i, &n) in sizes.iter().enumerate() {
            sender
                .send_to(&vec![i as u8; n], receiver.local_addr().unwrap())
                .unwrap();
        }
        let (mut batches, mut batch) = (BatchReceiver::new(), DatagramBatch::new());
        let mut got = Vec::new();
        while got.len() < sizes.len() {
            batches.receive(&receiver, &mut batch).unwrap();
            got.extend(batch.datagrams().map(|(from, d)| (from, d.to_vec())));
        }
        for (i, (from, d)) in got.iter().enumerate() {
            assert_eq!(*from, sender.local_addr().unwrap());
            assert_eq!(d.len(), sizes[i]);
            assert!(d.iter().all(|&b| b == i as u8));
        }
    }

    #[test]
    fn receives_every_queued_datagram_over_ipv4() {
        round_trip("receives_every_queued_datagram_over_ipv4", "127.0.0.1:0");
    }

    #[test]
    fn receives_every_queued_datagram_over_ipv6() {
        round_trip("receives_every_queued_datagram_over_ipv6", "[::1]:0");
    }

    #[test]
    fn times_out_when_nothing_arrives() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let err = BatchReceiver::new()
            .receive(&receiver, &mut DatagramBatch::new())
            .unwrap_err();
        assert!(matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ));
    }
}
