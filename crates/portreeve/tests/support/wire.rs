//! What the scan-detection tests observe on the wire: TCP connections
//! made, refused or unanswered, the packets tcpdump sees in one direction
//! of a namespace, and the devices and MAC addresses a raw-packet scanner
//! (masscan) must be told.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::time::Duration;

use super::{Netns, run, stdout};

/// Whether `from` completes a TCP handshake with `addr:port`, or (`Err`)
/// is refused (the answer a reject gives), or (`Ok(false)`) hears nothing
/// within 500 ms.
pub fn connect(from: &Netns, addr: &str, port: u16) -> Result<bool, ()> {
    let to = SocketAddr::new(addr.parse().unwrap(), port);
    from.run(
        || match TcpStream::connect_timeout(&to, Duration::from_millis(500)) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(()),
            Err(_) => Ok(false),
        },
    )
}

/// The device of `ns` that holds `address` (IPv4).
pub fn device_of(ns: &Netns, address: &str) -> String {
    let out = stdout(&run(ns
        .exec("ip")
        .args(["-o", "-4", "addr", "show", "to", address])));
    out.split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no device holds {address}: {out}"))
        .to_string()
}

/// The MAC address of `device` in `ns`.
pub fn mac_of(ns: &Netns, device: &str) -> String {
    let out = stdout(&run(ns
        .exec("ip")
        .args(["-o", "link", "show", "dev", device])));
    out.split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_else(|| panic!("no MAC address for {device}: {out}"))
        .to_string()
}

/// tcpdump in a namespace, printing one line per packet that matches a
/// filter in one direction (`in` or `out`) on any of its interfaces.
pub struct Wire(Child);

impl Wire {
    /// Starts tcpdump and returns once it captures.
    pub fn watch(ns: &Netns, direction: &str, filter: &str) -> Wire {
        let mut child = ns
            .exec("tcpdump")
            .args(["-i", "any", "-n", "-l", "-Q", direction, filter])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpdump");
        // tcpdump says "listening on" once it captures.
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let said: Vec<String> = stderr
            .lines()
            .map_while(Result::ok)
            .take_while(|l| !l.contains("listening on"))
            .collect();
        assert!(child.try_wait().unwrap().is_none(), "tcpdump: {said:?}");
        Wire(child)
    }

    /// Stops the capture and returns the packets seen, a line each.
    pub fn count(mut self) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.0.kill();
        let mut text = String::new();
        self.0
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        let _ = self.0.wait();
        text.lines().map(str::to_string).collect()
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
