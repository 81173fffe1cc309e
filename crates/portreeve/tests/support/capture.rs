//! Packet captures of a test's own namespaces with tcpdump: started before
//! the traffic, stopped once every packet is written.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use portreeve_testkit::Netns;

/// Starts tcpdump on every interface of `ns`, writing `pcap`, and waits
/// until it is capturing. The link type is Linux cooked capture v1: `-i
/// any` would write v2, which softflowd 1.1.0 cannot read.
pub fn start(ns: &Netns, pcap: &Path) -> Child {
    let mut tcpdump = ns
        .exec("tcpdump")
        .args(["-i", "any", "-y", "LINUX_SLL", "-U", "-n", "-w"])
        .arg(pcap)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(tcpdump.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("listening on") {
        let read = std::io::BufRead::read_line(&mut err, &mut said).unwrap();
        assert!(read > 0, "tcpdump did not start: {said}");
    }
    tcpdump
}

/// Stops `tcpdump` once the last packets are written: tcpdump hands packets
/// over from the kernel in blocks, at most a second late.
pub fn stop(mut tcpdump: Child) {
    std::thread::sleep(Duration::from_millis(1100));
    let pid = rustix::process::Pid::from_raw(tcpdump.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    tcpdump.wait().unwrap();
}
