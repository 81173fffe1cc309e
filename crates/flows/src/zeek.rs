//! Zeek `conn.log` import, in both of Zeek's formats: tab-separated with
//! `#separator` / `#fields` / `#unset_field` headers, and JSON lines
//! (`LogAscii::use_json`, timestamps as epoch seconds or ISO 8601). The
//! format is recognised from the first non-empty line.
//!
//! Zeek knows who opened each connection, so every record carries
//! `server_side = Dst`: the responder (`id.resp_h`, `id.resp_p`) is the
//! server. Packets and bytes are the sums of both directions; bytes are IP
//! bytes (`orig_ip_bytes + resp_ip_bytes`, as flow exporters count them),
//! falling back to payload bytes (`orig_bytes + resp_bytes`) when the IP
//! byte columns are absent. For ICMP, Zeek stores the type in `id.orig_p`
//! and the code in `id.resp_p`.
//!
//! Errors name the line they occur on; the reader continues with the next
//! line after a bad one, so the caller can choose to skip or stop.

use std::borrow::Cow;
use std::io::BufRead;
use std::net::{IpAddr, Ipv4Addr};

use serde::Deserialize;

use crate::record::{FlowRecord, FlowSource, ServerSide};

/// A bad line (or header) in a `conn.log`.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ZeekError {
    /// 1-based line number.
    pub line: u64,
    /// What is wrong.
    pub kind: ZeekErrorKind,
}

/// What is wrong with a line.
#[derive(Debug, thiserror::Error)]
pub enum ZeekErrorKind {
    /// Reading failed.
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
    /// A TSV data line came before any `#fields` header.
    #[error("data before the #fields header (is this a Zeek TSV log?)")]
    MissingHeader,
    /// The `#fields` header lacks a column portreeve needs.
    #[error("the #fields header has no {0} column")]
    MissingColumn(&'static str),
    /// A data line has fewer columns than the header.
    #[error("{found} columns where the header has {expected}")]
    ColumnCount {
        /// Columns in the header.
        expected: usize,
        /// Columns on this line.
        found: usize,
    },
    /// A field could not be parsed.
    #[error("bad {field} value {value:?}")]
    BadValue {
        /// The column.
        field: &'static str,
        /// The text found.
        value: String,
    },
    /// A JSON line is not a conn.log object.
    #[error("bad JSON: {0}")]
    Json(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Tsv,
    Json,
}

/// Column positions of the fields portreeve reads.
#[derive(Debug, Clone, Default)]
struct Columns {
    count: usize,
    ts: usize,
    orig_h: usize,
    orig_p: usize,
    resp_h: usize,
    resp_p: usize,
    proto: usize,
    duration: Option<usize>,
    orig_pkts: Option<usize>,
    resp_pkts: Option<usize>,
    orig_ip_bytes: Option<usize>,
    resp_ip_bytes: Option<usize>,
    orig_bytes: Option<usize>,
    resp_bytes: Option<usize>,
}

/// Reads flow records from a `conn.log`.
///
/// ```
/// let log = "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\n\
///            1700000000.5\tC1\t10.0.0.1\t50000\t10.0.0.2\t22\ttcp\n";
/// let records: Vec<_> = portreeve_flows::zeek::ZeekReader::new(log.as_bytes()).collect();
/// let r = records[0].as_ref().unwrap();
/// assert_eq!((r.dst_port, r.ip_protocol, r.received_ms), (22, 6, 1_700_000_000_500));
/// assert_eq!(r.protocol(), Some(portreeve_core::Proto::Tcp));
/// ```
#[derive(Debug)]
pub struct ZeekReader<R> {
    reader: R,
    line: u64,
    buf: String,
    format: Option<Format>,
    separator: String,
    unset: String,
    empty: String,
    columns: Option<Columns>,
}

impl<R: BufRead> ZeekReader<R> {
    /// A reader over a whole `conn.log` (TSV or JSON lines).
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            line: 0,
            buf: String::new(),
            format: None,
            separator: "\t".to_owned(),
            unset: "-".to_owned(),
            empty: "(empty)".to_owned(),
            columns: None,
        }
    }

    fn error(&self, kind: ZeekErrorKind) -> ZeekError {
        ZeekError {
            line: self.line,
            kind,
        }
    }

    /// Handles a `#` header line of a TSV log.
    fn header(&mut self, text: &str) -> Result<(), ZeekErrorKind> {
        if let Some(value) = text.strip_prefix("#separator ") {
            self.separator = unescape(value);
            return Ok(());
        }
        let mut parts = text.splitn(2, self.separator.as_str());
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
            return Ok(());
        };
        match key {
            "#unset_field" => self.unset = value.to_owned(),
            "#empty_field" => self.empty = value.to_owned(),
            "#fields" => {
                let names: Vec<&str> = value.split(self.separator.as_str()).collect();
                let find = |name: &str| names.iter().position(|n| *n == name);
                let need =
                    |name: &'static str| find(name).ok_or(ZeekErrorKind::MissingColumn(name));
                self.columns = Some(Columns {
                    count: names.len(),
                    ts: need("ts")?,
                    orig_h: need("id.orig_h")?,
                    orig_p: need("id.orig_p")?,
                    resp_h: need("id.resp_h")?,
                    resp_p: need("id.resp_p")?,
                    proto: need("proto")?,
                    duration: find("duration"),
                    orig_pkts: find("orig_pkts"),
                    resp_pkts: find("resp_pkts"),
                    orig_ip_bytes: find("orig_ip_bytes"),
                    resp_ip_bytes: find("resp_ip_bytes"),
                    orig_bytes: find("orig_bytes"),
                    resp_bytes: find("resp_bytes"),
                });
            }
            _ => {}
        }
        Ok(())
    }

    fn tsv_record(&self, text: &str) -> Result<FlowRecord, ZeekErrorKind> {
        let cols = self.columns.as_ref().ok_or(ZeekErrorKind::MissingHeader)?;
        let values: Vec<&str> = text.split(self.separator.as_str()).collect();
        if values.len() < cols.count {
            return Err(ZeekErrorKind::ColumnCount {
                expected: cols.count,
                found: values.len(),
            });
        }
        let get = |i: usize| {
            values
                .get(i)
                .copied()
                .filter(|v| *v != self.unset && *v != self.empty)
        };
        let opt = |i: Option<usize>| i.and_then(get);
        let conn = Conn {
            ts: get(cols.ts).map(Ts::Text),
            orig_h: get(cols.orig_h).map(Cow::Borrowed),
            orig_p: opt_num("id.orig_p", get(cols.orig_p))?,
            resp_h: get(cols.resp_h).map(Cow::Borrowed),
            resp_p: opt_num("id.resp_p", get(cols.resp_p))?,
            proto: get(cols.proto).map(Cow::Borrowed),
            duration: opt(cols.duration).map(Ts::Text),
            orig_pkts: opt_num("orig_pkts", opt(cols.orig_pkts))?,
            resp_pkts: opt_num("resp_pkts", opt(cols.resp_pkts))?,
            orig_ip_bytes: opt_num("orig_ip_bytes", opt(cols.orig_ip_bytes))?,
            resp_ip_bytes: opt_num("resp_ip_bytes", opt(cols.resp_ip_bytes))?,
            orig_bytes: opt_num("orig_bytes", opt(cols.orig_bytes))?,
            resp_bytes: opt_num("resp_bytes", opt(cols.resp_bytes))?,
        };
        conn.record()
    }
}

fn opt_num(field: &'static str, value: Option<&str>) -> Result<Option<u64>, ZeekErrorKind> {
    value
        .map(|v| v.parse::<u64>().map_err(|_| bad(field, v)))
        .transpose()
}

fn bad(field: &'static str, value: &str) -> ZeekErrorKind {
    ZeekErrorKind::BadValue {
        field,
        value: value.chars().take(80).collect(),
    }
}

/// Decodes Zeek's `\xHH` escapes in the `#separator` header.
fn unescape(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find("\\x") {
        out.push_str(rest.get(..i).unwrap_or_default());
        let hex = rest
            .get(i + 2..i + 4)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(char::from(b));
                rest = rest.get(i + 4..).unwrap_or_default();
            }
            None => {
                out.push_str("\\x");
                rest = rest.get(i + 2..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

/// A timestamp or duration: text (TSV, ISO 8601 JSON) or a JSON number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Ts<'a> {
    Number(f64),
    #[serde(borrow)]
    Text(&'a str),
}

impl Ts<'_> {
    /// Milliseconds, from decimal seconds (without going through floats
    /// for text) or an ISO 8601 instant.
    fn millis(&self, field: &'static str, iso: bool) -> Result<u64, ZeekErrorKind> {
        match self {
            Ts::Number(n) if n.is_finite() && *n >= 0.0 && *n < 1e15 => {
                Ok((n * 1000.0).round() as u64)
            }
            Ts::Number(n) => Err(bad(field, &n.to_string())),
            Ts::Text(t) => {
                if let Some(ms) = decimal_millis(t) {
                    return Ok(ms);
                }
                if iso && let Ok(ts) = t.parse::<jiff::Timestamp>() {
                    return u64::try_from(ts.as_millisecond()).map_err(|_| bad(field, t));
                }
                Err(bad(field, t))
            }
        }
    }
}

fn decimal_millis(text: &str) -> Option<u64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let secs: u64 = whole.parse().ok()?;
    let mut ms = 0u64;
    for (i, b) in frac.bytes().take(3).enumerate() {
        ms += u64::from(b - b'0') * 10u64.pow(2 - i as u32);
    }
    secs.checked_mul(1000)?.checked_add(ms)
}

/// The conn.log columns portreeve reads, as JSON or from TSV columns.
#[derive(Debug, Deserialize)]
struct Conn<'a> {
    #[serde(borrow)]
    ts: Option<Ts<'a>>,
    #[serde(rename = "id.orig_h", borrow)]
    orig_h: Option<Cow<'a, str>>,
    #[serde(rename = "id.orig_p")]
    orig_p: Option<u64>,
    #[serde(rename = "id.resp_h", borrow)]
    resp_h: Option<Cow<'a, str>>,
    #[serde(rename = "id.resp_p")]
    resp_p: Option<u64>,
    #[serde(borrow)]
    proto: Option<Cow<'a, str>>,
    #[serde(borrow)]
    duration: Option<Ts<'a>>,
    orig_pkts: Option<u64>,
    resp_pkts: Option<u64>,
    orig_ip_bytes: Option<u64>,
    resp_ip_bytes: Option<u64>,
    orig_bytes: Option<u64>,
    resp_bytes: Option<u64>,
}

impl Conn<'_> {
    fn record(&self) -> Result<FlowRecord, ZeekErrorKind> {
        let ts = self.ts.as_ref().ok_or(ZeekErrorKind::BadValue {
            field: "ts",
            value: String::new(),
        })?;
        let start = ts.millis("ts", true)?;
        let addr =
            |field: &'static str, v: &Option<Cow<'_, str>>| -> Result<IpAddr, ZeekErrorKind> {
                let text = v.as_deref().unwrap_or("");
                text.parse().map_err(|_| bad(field, text))
            };
        let src = addr("id.orig_h", &self.orig_h)?;
        let dst = addr("id.resp_h", &self.resp_h)?;
        let port = |field: &'static str, v: Option<u64>| -> Result<u16, ZeekErrorKind> {
            let v = v.ok_or(ZeekErrorKind::BadValue {
                field,
                value: String::new(),
            })?;
            u16::try_from(v).map_err(|_| bad(field, &v.to_string()))
        };
        let orig_p = port("id.orig_p", self.orig_p)?;
        let resp_p = port("id.resp_p", self.resp_p)?;
        let ip_protocol = match self.proto.as_deref() {
            Some("tcp") => 6,
            Some("udp") => 17,
            Some("icmp") if dst.is_ipv6() => 58,
            Some("icmp") => 1,
            _ => 0,
        };
        let mut r = FlowRecord::new(
            FlowSource::Zeek,
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            0,
            start,
        );
        r.src_addr = Some(src);
        r.dst_addr = Some(dst);
        r.ip_protocol = ip_protocol;
        if matches!(ip_protocol, 1 | 58) {
            r.icmp_type = u8::try_from(orig_p).ok();
            r.icmp_code = u8::try_from(resp_p).ok();
        } else {
            r.src_port = orig_p;
            r.dst_port = resp_p;
        }
        let sum = |a: Option<u64>, b: Option<u64>| a.unwrap_or(0).saturating_add(b.unwrap_or(0));
        r.packets = sum(self.orig_pkts, self.resp_pkts);
        r.bytes = if self.orig_ip_bytes.is_some() || self.resp_ip_bytes.is_some() {
            sum(self.orig_ip_bytes, self.resp_ip_bytes)
        } else {
            sum(self.orig_bytes, self.resp_bytes)
        };
        r.start_ms = Some(start);
        let duration = match &self.duration {
            Some(d) => d.millis("duration", false)?,
            None => 0,
        };
        r.end_ms = Some(start.saturating_add(duration));
        r.server_side = Some(ServerSide::Dst);
        Ok(r)
    }
}

impl<R: BufRead> Iterator for ZeekReader<R> {
    type Item = Result<FlowRecord, ZeekError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.buf.clear();
            self.line += 1;
            match self.reader.read_line(&mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(self.error(ZeekErrorKind::Io(e)))),
            }
            let text = std::mem::take(&mut self.buf);
            let line = text.trim_end_matches(['\n', '\r']);
            if line.trim().is_empty() {
                self.buf = text;
                continue;
            }
            let format = *self
                .format
                .get_or_insert(if line.trim_start().starts_with('{') {
                    Format::Json
                } else {
                    Format::Tsv
                });
            let result = match format {
                Format::Json => serde_json::from_str::<Conn<'_>>(line)
                    .map_err(|e| ZeekErrorKind::Json(e.to_string()))
                    .and_then(|c| c.record())
                    .map(Some),
                Format::Tsv if line.starts_with('#') => self.header(line).map(|()| None),
                Format::Tsv => self.tsv_record(line).map(Some),
            };
            let result = result.map_err(|kind| self.error(kind));
            self.buf = text;
            match result {
                Ok(None) => continue,
                Ok(Some(r)) => return Some(Ok(r)),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TSV: &str = "#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tconn
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]
1300475167.096535\tCHhAvVGS1DHFjwGM9\t141.142.220.202\t5353\t224.0.0.251\t5353\tudp\tdns\t-\t-\t-\tS0\t-\t-\t0\tD\t1\t73\t0\t0\t(empty)
1300475168.853899\tClEkJM2Vm5giqnMf4h\t141.142.220.118\t43927\t141.142.2.2\t53\tudp\tdns\t0.000435\t38\t89\tSF\t-\t-\t0\tDd\t1\t66\t1\t117\t(empty)
1300475169.780331\tC4J4Th3PJpwUYZZ6gc\tfe80::217:f2ff:fed7:cf65\t135\tff02::16\t0\ticmp\t-\t-\t-\t-\tOTH\t-\t-\t0\t-\t1\t76\t0\t0\t(empty)
1300475170.000000\tCbad\t141.142.220.118\tnotaport\t141.142.2.2\t53\tudp\tdns\t-\t-\t-\tS0\t-\t-\t0\tD\t1\t73\t0\t0\t(empty)
1300475171\tCshort\t1.2.3.4
#close\t2011-03-18-19-06-13
";

    #[test]
    fn tsv() {
        let items: Vec<_> = ZeekReader::new(TSV.as_bytes()).collect();
        assert_eq!(items.len(), 5);
        let mdns = items[0].as_ref().unwrap();
        assert_eq!(mdns.src_addr, Some("141.142.220.202".parse().unwrap()));
        assert_eq!(
            (mdns.dst_port, mdns.ip_protocol, mdns.packets, mdns.bytes),
            (5353, 17, 1, 73)
        );
        assert_eq!(
            (mdns.received_ms, mdns.end_ms),
            (1_300_475_167_096, Some(1_300_475_167_096))
        );
        assert_eq!(mdns.server_side, Some(ServerSide::Dst));
        let dns = items[1].as_ref().unwrap();
        assert_eq!((dns.packets, dns.bytes), (2, 66 + 117));
        assert_eq!(dns.end_ms, Some(1_300_475_168_853));
        let icmp6 = items[2].as_ref().unwrap();
        assert_eq!(
            (
                icmp6.ip_protocol,
                icmp6.icmp_type,
                icmp6.icmp_code,
                icmp6.dst_port
            ),
            (58, Some(135), Some(0), 0)
        );
        let e = items[3].as_ref().unwrap_err();
        assert_eq!(e.line, 11);
        assert!(
            matches!(&e.kind, ZeekErrorKind::BadValue { field: "id.orig_p", value } if value == "notaport"),
            "{e}"
        );
        let e = items[4].as_ref().unwrap_err();
        assert_eq!(e.line, 12);
        assert!(
            matches!(
                e.kind,
                ZeekErrorKind::ColumnCount {
                    expected: 21,
                    found: 3
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn tsv_header_problems() {
        let no_header = "1.0\tC\t1.1.1.1\t1\t2.2.2.2\t2\ttcp\n";
        let e = ZeekReader::new(no_header.as_bytes())
            .next()
            .unwrap()
            .unwrap_err();
        assert!(matches!(e.kind, ZeekErrorKind::MissingHeader) && e.line == 1);
        let no_proto = "#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\n";
        let e = ZeekReader::new(no_proto.as_bytes())
            .next()
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(e.kind, ZeekErrorKind::MissingColumn("proto")),
            "{e}"
        );
    }

    #[test]
    fn json_lines() {
        let log = r#"{"ts":1591367999.305988,"uid":"CMdzit1AMNsmfAIiQc","id.orig_h":"192.168.4.76","id.orig_p":36844,"id.resp_h":"192.168.4.1","id.resp_p":53,"proto":"udp","service":"dns","duration":0.06685185432434082,"orig_bytes":62,"resp_bytes":141,"conn_state":"SF","missed_bytes":0,"history":"Dd","orig_pkts":2,"orig_ip_bytes":118,"resp_pkts":2,"resp_ip_bytes":197}
{"ts":"2020-06-05T14:40:00.500Z","id.orig_h":"10.0.0.1","id.orig_p":50000,"id.resp_h":"10.0.0.2","id.resp_p":443,"proto":"tcp","orig_bytes":10,"resp_bytes":20}

{"ts":1591367999.3,"id.orig_h":"not-an-ip","id.orig_p":1,"id.resp_h":"10.0.0.2","id.resp_p":2,"proto":"tcp"}
{"ts":1591367999.3,"id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"10.0.0.2","id.resp_p":70000,"proto":"tcp"}
not json
"#;
        let items: Vec<_> = ZeekReader::new(log.as_bytes()).collect();
        assert_eq!(items.len(), 5);
        let dns = items[0].as_ref().unwrap();
        assert_eq!((dns.dst_port, dns.packets, dns.bytes), (53, 4, 118 + 197));
        assert_eq!(
            (dns.received_ms, dns.end_ms),
            (1_591_367_999_306, Some(1_591_367_999_373))
        );
        let https = items[1].as_ref().unwrap();
        assert_eq!(
            (https.received_ms, https.bytes, https.packets),
            (1_591_368_000_500, 30, 0)
        );
        let e = items[2].as_ref().unwrap_err();
        assert!(
            e.line == 4
                && matches!(
                    e.kind,
                    ZeekErrorKind::BadValue {
                        field: "id.orig_h",
                        ..
                    }
                ),
            "{e}"
        );
        let e = items[3].as_ref().unwrap_err();
        assert!(
            e.line == 5
                && matches!(
                    e.kind,
                    ZeekErrorKind::BadValue {
                        field: "id.resp_p",
                        ..
                    }
                ),
            "{e}"
        );
        let e = items[4].as_ref().unwrap_err();
        assert!(
            e.line == 6 && matches!(e.kind, ZeekErrorKind::Json(_)),
            "{e}"
        );
    }

    #[test]
    fn zeek_records_aggregate_by_responder() {
        use portreeve_core::{PortKey, Proto};
        let mut agg = crate::Aggregator::default();
        for r in ZeekReader::new(TSV.as_bytes()).flatten() {
            agg.add(&r);
        }
        let ports: Vec<PortKey> = agg.snapshot().iter().map(|u| u.key.port).collect();
        assert_eq!(
            ports,
            vec![PortKey::new(Proto::Udp, 53), PortKey::new(Proto::Udp, 5353)]
        );
        assert_eq!(agg.other_protocol_records(), 1, "the ICMPv6 record");
    }
}
