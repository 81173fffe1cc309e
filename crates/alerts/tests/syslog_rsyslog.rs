//! The syslog sink against Debian's rsyslog, started by the test on
//! 127.0.0.1 with a configuration the test writes (the system's rsyslog
//! and its configuration are never touched): rsyslog's own RFC 5424 parser
//! must take the messages apart as portreeve meant them, over UDP and over
//! TCP with octet counting.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use portreeve_alerts::{Alert, Alerts, AlertsConfig, SyslogConfig, examples};
use portreeve_testkit::rsyslog::{self, Rsyslog};
use support::{stats, wait_until};

const TEST: &str = "syslog_rsyslog";

fn syslog(address: String, facility: &str) -> SyslogConfig {
    SyslogConfig {
        address,
        name: None,
        facility: facility.to_owned(),
        timeout: SignedDuration::from_secs(2),
        queue: 16,
    }
}

/// The RFC 5424 header fields of `raw` and its MSG, split as the RFC's
/// ABNF has them: `<PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP
/// PROCID SP MSGID SP STRUCTURED-DATA SP MSG`.
fn parse_rfc5424(raw: &str) -> (u16, Vec<&str>, &str) {
    let rest = raw.strip_prefix('<').expect("PRI opens with <");
    let (pri, rest) = rest.split_once('>').expect("PRI closes with >");
    let parts: Vec<&str> = rest.splitn(8, ' ').collect();
    assert_eq!(parts.len(), 8, "{raw}");
    (
        pri.parse().expect("PRI is a number"),
        parts[..7].to_vec(),
        parts[7],
    )
}

/// CEF's eight `|`-separated fields, honouring `\|` escapes.
fn cef_fields(cef: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = cef.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if fields.len() < 8 => {
                fields.last_mut().unwrap().push(chars.next().unwrap());
            }
            '|' if fields.len() < 8 => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

#[test]
fn rsyslog_parses_rfc5424_messages_with_cef_bodies_over_udp_and_tcp() {
    let Some(program) = rsyslog::program() else {
        portreeve_testkit::skip_unless(TEST, false, "rsyslogd is not installed (Debian: rsyslog)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rsyslog = Rsyslog::start(&program, dir.path(), None);
    let alerts = Alerts::start(&AlertsConfig {
        syslog: vec![
            syslog(format!("udp://127.0.0.1:{}", rsyslog.udp_port), "auth"),
            syslog(format!("tcp://127.0.0.1:{}", rsyslog.tcp_port), "local3"),
        ],
        ..AlertsConfig::default()
    })
    .unwrap();
    let detection = examples::detection();
    let block = Alert::Block(examples::block());
    alerts.send(detection.clone());
    alerts.send(block.clone());
    wait_until(Duration::from_secs(10), "four messages at rsyslog", || {
        rsyslog.portreeve_lines().len() == 4
    });
    for sink in 0..2 {
        assert_eq!(
            (stats(&alerts, sink).delivered, stats(&alerts, sink).failed),
            (2, 0)
        );
    }

    let hostname = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let pid = std::process::id().to_string();
    let mut seen = BTreeSet::new();
    for fields in rsyslog.portreeve_lines() {
        let [
            input,
            version,
            facility,
            severity,
            host,
            app,
            procid,
            msgid,
            sd,
            time,
            msg,
            raw,
        ] = &fields[..]
        else {
            panic!("unexpected line {fields:?}");
        };
        // rsyslog's parser: an RFC 5424 message, fields where we put them.
        assert_eq!(version, "1");
        assert_eq!(
            (host.as_str(), app.as_str()),
            (hostname.trim(), "portreeve")
        );
        assert_eq!((procid, sd.as_str()), (&pid, "-"));
        let alert = match msgid.as_str() {
            "portscan.vertical" => &detection,
            "block" => &block,
            other => panic!("MSGID {other}"),
        };
        let expected_facility = match input.as_str() {
            "imudp" => "auth",
            "imtcp" => "local3",
            other => panic!("input {other}"),
        };
        assert_eq!(facility, expected_facility);
        let expected_severity = if alert == &detection {
            "warning"
        } else {
            "notice"
        };
        assert_eq!(severity, expected_severity);
        assert_eq!(time.parse::<Timestamp>().unwrap(), alert.time());
        assert!(msg.starts_with("CEF:0|portreeve|portreeve|"), "{msg}");

        // The raw message, taken apart independently of rsyslog.
        let (pri, header, body) = parse_rfc5424(raw);
        let facility_code = if input == "imudp" { 4 } else { 19 };
        let severity_code = if alert == &detection { 4 } else { 5 };
        assert_eq!(pri, facility_code * 8 + severity_code);
        assert_eq!(header[0], "1");
        assert_eq!(header[1].parse::<Timestamp>().unwrap(), alert.time());
        assert_eq!(&header[3..7], ["portreeve", &pid, msgid, "-"]);
        assert_eq!(body, msg);
        let cef = cef_fields(body);
        assert_eq!(cef.len(), 8, "{body}");
        assert_eq!(&cef[..3], ["CEF:0", "portreeve", "portreeve"]);
        assert_eq!(cef[4], alert.signature_id());
        let ext = &cef[7];
        if alert == &detection {
            assert_eq!(cef[5], "Port scan (vertical)");
            assert_eq!(cef[6], "8");
            for pair in [
                "src=192.0.2.7",
                "act=block",
                "cnt=5",
                "cs3=22,23,80,443,8080",
            ] {
                assert!(ext.split(' ').any(|p| p == pair), "{pair} in {ext}");
            }
        } else {
            assert_eq!(cef[6], "5");
            for pair in ["src=192.0.2.7", "act=block", "cn1=600", "suser=agent"] {
                assert!(ext.split(' ').any(|p| p == pair), "{pair} in {ext}");
            }
        }
        seen.insert((input.clone(), msgid.clone()));
    }
    assert_eq!(seen.len(), 4, "each alert over each transport: {seen:?}");
}
