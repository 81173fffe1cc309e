//! An rsyslogd of the test's own (Debian's rsyslog), in the foreground on
//! 127.0.0.1 of the calling namespace or of a [`Netns`], with a
//! configuration the test writes: the system's rsyslog and its
//! configuration are never touched. Every message it receives is written
//! to a file as rsyslog's own RFC 5424 parser took it apart.

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Netns;

/// rsyslogd from PATH or /usr/sbin (not on a non-root user's PATH).
pub fn program() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("rsyslogd"))
        .find(|path| path.is_file())
}

/// The running rsyslogd; killed on drop.
pub struct Rsyslog {
    child: Child,
    /// Its UDP input on 127.0.0.1.
    pub udp_port: u16,
    /// Its TCP input on 127.0.0.1 (octet counting or newline framing).
    pub tcp_port: u16,
    received: PathBuf,
}

/// Runs `f` in `ns`, or here without one.
fn within<T: Send>(ns: Option<&Netns>, f: impl FnOnce() -> T + Send) -> T {
    match ns {
        Some(ns) => ns.run(f),
        None => f(),
    }
}

impl Rsyslog {
    /// Starts `program` with its work files in `dir`, listening on
    /// 127.0.0.1 inside `ns` (or the caller's namespace without one), and
    /// waits up to 10 s for both inputs.
    pub fn start(program: &Path, dir: &Path, ns: Option<&Netns>) -> Rsyslog {
        let (udp_port, tcp_port) = within(ns, || {
            let udp = UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
            let tcp = TcpListener::bind("127.0.0.1:0").expect("bind TCP");
            (
                udp.local_addr().unwrap().port(),
                tcp.local_addr().unwrap().port(),
            )
        });
        let received = dir.join("received.log");
        // One line a message, the fields portreeve_lines names separated
        // by tabs.
        let config = format!(
            r#"global(workDirectory="{dir}")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="{udp_port}")
input(type="imtcp" address="127.0.0.1" port="{tcp_port}")
template(name="fields" type="string" string="%inputname%\t%protocol-version%\t%syslogfacility-text%\t%syslogseverity-text%\t%hostname%\t%app-name%\t%procid%\t%msgid%\t%structured-data%\t%timereported:::date-rfc3339%\t%msg%\t%rawmsg%\n")
action(type="omfile" file="{received}" template="fields")
"#,
            dir = dir.display(),
            received = received.display(),
        );
        let conf = dir.join("rsyslog.conf");
        std::fs::write(&conf, config).expect("write rsyslog.conf");
        let mut cmd = match ns {
            Some(ns) => ns.exec(program),
            None => Command::new(program),
        };
        let child = cmd
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rsyslogd");
        let rsyslog = Rsyslog {
            child,
            udp_port,
            tcp_port,
            received,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !within(ns, || {
            udp_bound(udp_port) && TcpStream::connect(("127.0.0.1", tcp_port)).is_ok()
        }) {
            assert!(Instant::now() < deadline, "rsyslogd's inputs did not open");
            std::thread::sleep(Duration::from_millis(20));
        }
        rsyslog
    }

    /// The received lines portreeve sent (rsyslog logs its own start
    /// too), each split into rsyslog's parsed fields — input name,
    /// protocol version, facility, severity, hostname, app name, procid,
    /// msgid, structured data, time reported (RFC 3339), message — and
    /// last the raw message as it arrived.
    pub fn portreeve_lines(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(&self.received)
            .unwrap_or_default()
            .lines()
            .map(|l| l.split('\t').map(str::to_owned).collect::<Vec<_>>())
            .filter(|fields| fields.get(5).is_some_and(|app| app == "portreeve"))
            .collect()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a UDP socket is bound to 127.0.0.1:`port` in the calling
/// thread's namespace (rsyslog has no other sign of readiness that sends
/// nothing).
fn udp_bound(port: u16) -> bool {
    let wanted = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/thread-self/net/udp")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(wanted.as_str()))
}
