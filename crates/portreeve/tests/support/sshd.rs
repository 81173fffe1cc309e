//! A real OpenSSH daemon in a lab's server namespace, and sessions to it
//! from the lab's client: what the lock-out guard and the block guard must
//! find in the kernel.
//!
//! A session here is a plain TCP connection that read sshd's banner and
//! stays open: no login is needed for the kernel (or the firewall) to hold
//! it as an established connection to sshd.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Lab, run, stderr};

/// A real `/usr/sbin/sshd -D` listening on the lab server's port 22, killed
/// when dropped. A per-connection sshd whose client can no longer reach it
/// (a forced ruleset, a deleted namespace) exits after `LoginGraceTime`.
pub struct Sshd {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Sshd {
    pub fn start(lab: &Lab, server: &str) -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("ssh_host_ed25519_key");
        let keygen = run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key));
        assert!(keygen.status.success(), "ssh-keygen: {}", stderr(&keygen));
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress {server}:22\nHostKey {}\nPidFile none\nUsePAM no\nLoginGraceTime 30\n",
                key.display()
            ),
        )
        .unwrap();
        // sshd wants /run/sshd; `ip netns exec` gives the server its own
        // mount namespace, so a tmpfs there leaves the host's /run alone.
        let script = format!(
            "mount -t tmpfs portreeve-sshd /run && mkdir -m 755 /run/sshd && \
             exec /usr/sbin/sshd -D -e -f {}",
            config.display()
        );
        let child = lab
            .srv
            .exec("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sshd");
        Sshd { child, _dir: dir }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP connection from the lab's client to sshd that has read the
/// server's banner, waiting up to ten seconds for sshd to start.
pub fn ssh_session(lab: &Lab, server: &str) -> TcpStream {
    let to = SocketAddr::new(server.parse().unwrap(), 22);
    let started = Instant::now();
    loop {
        let attempt = lab.client.run(|| {
            let stream = TcpStream::connect_timeout(&to, Duration::from_millis(500)).ok()?;
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut banner = String::new();
            BufReader::new(&stream).read_line(&mut banner).ok()?;
            banner.starts_with("SSH-2.0-").then_some(stream)
        });
        if let Some(stream) = attempt {
            return stream;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "sshd did not answer on {to}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
