//! The syslog sink: RFC 5424 messages with a CEF body, over UDP (RFC 5426,
//! one message a datagram) or TCP (RFC 6587 octet counting: `LEN SP MSG`).

use std::io::{self, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use jiff::Timestamp;

use crate::alert::{Alert, Severity};
use crate::cef;
use crate::config::{Facility, SyslogTransport};
use crate::export::Record;
use crate::sink::{Sink, SinkError};

/// What goes in every message's header besides the alert.
#[derive(Debug, Clone)]
pub struct SyslogFormat {
    /// The facility part of PRI.
    pub facility: Facility,
    /// HOSTNAME: this host's name.
    pub hostname: String,
    /// PROCID: the agent's process id.
    pub procid: u32,
}

impl SyslogFormat {
    /// The format for this process on this host, with `facility`.
    pub fn for_this_host(facility: Facility) -> SyslogFormat {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        SyslogFormat {
            facility,
            hostname: header_token(hostname.trim(), 255),
            procid: std::process::id(),
        }
    }

    /// The RFC 5424 message:
    /// `<PRI>1 TIMESTAMP HOSTNAME portreeve PROCID MSGID - CEF:0|…`. The
    /// message carries no structured data: the CEF body holds every field.
    pub fn format(&self, alert: &Alert) -> String {
        self.frame(
            alert.severity(),
            alert.time(),
            alert.signature_id(),
            &cef::format(alert, env!("CARGO_PKG_VERSION")),
        )
    }

    /// The RFC 5424 message for an exported record: the same header, its
    /// signature (`PRV001`, `new_listener`, `change.apply`,
    /// `portscan.vertical`) as MSGID, and its ECS document as one line of
    /// JSON for MSG, so that a syslog collector gets exactly the fields the
    /// ECS export has.
    pub fn format_record(&self, record: &Record) -> String {
        self.frame(
            record.severity(),
            record.time,
            &record.signature(),
            &crate::ecs::record_document(record).to_string(),
        )
    }

    fn frame(&self, severity: Severity, time: Timestamp, msgid: &str, msg: &str) -> String {
        let pri = u16::from(self.facility.code()) * 8 + u16::from(severity.syslog_code());
        format!(
            "<{pri}>1 {} {} portreeve {} {} - {msg}",
            rfc5424_time(time),
            self.hostname,
            self.procid,
            header_token(msgid, 32),
        )
    }
}

/// TIMESTAMP: RFC 3339 in UTC with at most six fractional digits, as
/// RFC 5424 allows.
fn rfc5424_time(time: Timestamp) -> String {
    Timestamp::from_microsecond(time.as_microsecond())
        .unwrap_or(time)
        .to_string()
}

/// A header field: printable US-ASCII without spaces, at most `max`
/// characters; `-` (the nil value) when nothing is left.
fn header_token(value: &str, max: usize) -> String {
    let token: String = value
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if token.is_empty() {
        "-".to_owned()
    } else {
        token
    }
}

/// Sends formatted messages to one receiver.
pub struct SyslogSink {
    format: SyslogFormat,
    transport: SyslogTransport,
    address: String,
    timeout: Duration,
    /// The open TCP connection, kept between messages.
    stream: Option<TcpStream>,
}

impl SyslogSink {
    /// A sink sending to `address` (`host:port`) over `transport`; a TCP
    /// connection is opened on the first message and reopened after an error.
    pub fn new(
        format: SyslogFormat,
        transport: SyslogTransport,
        address: String,
        timeout: Duration,
    ) -> SyslogSink {
        SyslogSink {
            format,
            transport,
            address,
            timeout,
            stream: None,
        }
    }

    fn resolve(&self) -> io::Result<SocketAddr> {
        self.address.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} has no address", self.address),
            )
        })
    }

    fn send_udp(&self, message: &str) -> io::Result<()> {
        let target = self.resolve()?;
        let local: SocketAddr = if target.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        UdpSocket::bind(local)?.send_to(message.as_bytes(), target)?;
        Ok(())
    }

    fn send_tcp(&mut self, message: &str) -> io::Result<()> {
        let frame = format!("{} {message}", message.len());
        // A kept connection may have been closed by the receiver since the
        // last message: one failure on it is retried on a new connection.
        if let Some(stream) = self.stream.as_mut() {
            if stream.write_all(frame.as_bytes()).is_ok() {
                return Ok(());
            }
            self.stream = None;
        }
        let stream = TcpStream::connect_timeout(&self.resolve()?, self.timeout)?;
        stream.set_write_timeout(Some(self.timeout))?;
        let stream = self.stream.insert(stream);
        stream
            .write_all(frame.as_bytes())
            .inspect_err(|_| self.stream = None)
    }
}

impl SyslogSink {
    /// Sends one formatted message (from [`SyslogFormat::format`] or
    /// [`SyslogFormat::format_record`]) over the sink's transport.
    pub fn send(&mut self, message: &str) -> io::Result<()> {
        match self.transport {
            SyslogTransport::Udp => self.send_udp(message),
            SyslogTransport::Tcp => self.send_tcp(message),
        }
    }
}

impl Sink for SyslogSink {
    fn deliver(&mut self, alert: &Alert) -> Result<(), SinkError> {
        let message = self.format.format(alert);
        Ok(self.send(&message)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples;

    #[test]
    fn header_has_pri_version_time_host_app_procid_msgid_and_nil_sd() {
        let format = SyslogFormat {
            facility: Facility::Auth,
            hostname: "gate".to_owned(),
            procid: 42,
        };
        let message = format.format(&examples::detection());
        // auth (4) * 8 + warning (4) = 36.
        assert!(
            message.starts_with(
                "<36>1 2026-05-28T20:26:45Z gate portreeve 42 portscan.vertical - CEF:0|portreeve|"
            ),
            "{message}"
        );
    }

    #[test]
    fn a_usage_anomaly_is_a_notice_with_its_own_msgid_and_a_cef_body() {
        let format = SyslogFormat {
            facility: Facility::Daemon,
            hostname: "gate".to_owned(),
            procid: 42,
        };
        let message = format.format(&examples::usage_anomaly());
        // daemon (3) * 8 + notice (5) = 29.
        assert!(
            message.starts_with(
                "<29>1 2026-05-28T20:00:00Z gate portreeve 42 usage-anomaly - \
                 CEF:0|portreeve|portreeve|"
            ),
            "{message}"
        );
        assert!(
            message.contains("|usage-anomaly|Usage anomaly (burst)|5|rt="),
            "{message}"
        );
        assert!(
            message.contains(" dpt=8080 proto=TCP cnt=240 "),
            "{message}"
        );
    }

    /// rsyslog also takes newline-framed messages, so the framing is
    /// checked here, on a listener that reads exactly what was sent.
    #[test]
    fn tcp_frames_are_octet_counted_on_one_connection() {
        use std::io::Read as _;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let format = SyslogFormat::for_this_host(Facility::Daemon);
        let mut sink = SyslogSink::new(
            format.clone(),
            SyslogTransport::Tcp,
            listener.local_addr().unwrap().to_string(),
            Duration::from_secs(2),
        );
        let alerts = [examples::detection(), Alert::Block(examples::block())];
        for alert in &alerts {
            sink.deliver(alert).unwrap();
        }
        drop(sink);
        let (mut stream, _) = listener.accept().unwrap();
        let mut received = String::new();
        stream.read_to_string(&mut received).unwrap();
        let mut rest = received.as_str();
        for alert in &alerts {
            let (len, after) = rest.split_once(' ').expect("LEN SP");
            let len: usize = len.parse().expect("LEN is a number");
            assert_eq!(&after[..len], format.format(alert));
            rest = &after[len..];
        }
        assert_eq!(rest, "", "nothing after the two frames");
    }

    #[test]
    fn timestamp_keeps_at_most_six_fractional_digits() {
        let time = Timestamp::new(1_780_000_000, 123_456_789).unwrap();
        assert_eq!(rfc5424_time(time), "2026-05-28T20:26:40.123456Z");
    }

    #[test]
    fn header_tokens_drop_spaces_and_control_characters() {
        assert_eq!(header_token("my host\n", 255), "myhost");
        assert_eq!(header_token(" \t", 255), "-");
        assert_eq!(header_token("abcdef", 3), "abc");
    }
}
