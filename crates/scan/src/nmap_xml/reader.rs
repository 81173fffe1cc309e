//! Reading nmap XML into the model: a streaming pass that collects what
//! the document says ([`parse`]), then one that turns it into a [`ScanRun`]
//! and expands summarised ports where they are known ([`build`]); see the
//! [module docs](super).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;

use jiff::Timestamp;
use portreeve_core::Proto;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use super::{DEFAULT_MAX_PORTS, SCRIPT_ID, parse_ranges};
use crate::cpe::cpe_uri_to_23;
use crate::model::{
    HostResult, PortResult, PortState, Reason, ScanKind, ScanRun, ServiceInfo, TlsInfo,
};

/// Why an nmap XML document could not be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The document is not well-formed XML.
    #[error("not well-formed XML at line {line}, column {column} (byte {offset}): {message}")]
    Syntax {
        /// Byte offset of the problem.
        offset: u64,
        /// Line, from 1.
        line: usize,
        /// Column in characters, from 1.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The document ended before `</nmaprun>`: typically an interrupted scan.
    #[error(
        "the document ends inside <{open}> (line {line}, column {column}): was the scan interrupted?"
    )]
    Truncated {
        /// The innermost element left open.
        open: String,
        /// Line of the end of input, from 1.
        line: usize,
        /// Column of the end of input, from 1.
        column: usize,
    },
    /// The root element is not `<nmaprun>`.
    #[error("not nmap XML output: the root element is {found}, not <nmaprun>")]
    NotNmap {
        /// What was found instead (`<name>`, or "missing").
        found: String,
    },
    /// An attribute portreeve needs is missing or malformed.
    #[error("line {line}, column {column}: <{element}> {problem}")]
    Invalid {
        /// The element.
        element: String,
        /// What is wrong with it, e.g. `needs a port number in portid, got "x"`.
        problem: String,
        /// Line, from 1.
        line: usize,
        /// Column in characters, from 1.
        column: usize,
    },
    /// Expanding summarised ports would hold more ports than allowed.
    #[error("the document describes more than {limit} ports; import it in parts")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
}

/// What nmap's document held that the model cannot, and so was left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Omission {
    /// Ports nmap summarised in `<extraports>` whose exact members could not
    /// be recovered (or whose state the model has no name for).
    Summarised {
        /// The host.
        address: IpAddr,
        /// nmap's state name.
        state: String,
        /// How many ports.
        count: u64,
    },
    /// A port in a state the model has no name for (`unfiltered`,
    /// `closed|filtered`).
    UnsupportedState {
        /// The host.
        address: IpAddr,
        /// Protocol.
        protocol: Proto,
        /// Port.
        port: u16,
        /// nmap's state name.
        state: String,
    },
    /// A port of a protocol other than TCP and UDP (SCTP, IP protocols).
    UnsupportedProtocol {
        /// The host.
        address: IpAddr,
        /// nmap's protocol name.
        protocol: String,
        /// Port or protocol number.
        port: u16,
    },
    /// A scan type other than connect, SYN and UDP.
    UnsupportedScan {
        /// nmap's scan type (`ack`, `fin`, `sctpinit`, …).
        kind: String,
    },
    /// A host that was not up, or had no IP address.
    Host {
        /// Its IP address, if it had one.
        address: Option<IpAddr>,
        /// Its status (`down`, `unknown`, `up` without an IP address).
        status: String,
    },
}

impl fmt::Display for Omission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Omission::Summarised {
                address,
                state,
                count,
            } => write!(
                f,
                "{address}: {count} {state} ports summarised by nmap without their port numbers"
            ),
            Omission::UnsupportedState {
                address,
                protocol,
                port,
                state,
            } => write!(
                f,
                "{address} {port}/{protocol}: state {state} is not supported"
            ),
            Omission::UnsupportedProtocol {
                address,
                protocol,
                port,
            } => write!(
                f,
                "{address} {port}/{protocol}: protocol {protocol} is not supported"
            ),
            Omission::UnsupportedScan { kind } => {
                write!(f, "scan type {kind} is not supported")
            }
            Omission::Host { address, status } => match address {
                Some(a) => write!(f, "host {a} is {status}"),
                None => write!(f, "a host without an IP address ({status})"),
            },
        }
    }
}

/// An imported run and what was left out of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    /// The run.
    pub run: ScanRun,
    /// What the document held that the model cannot.
    pub omitted: Vec<Omission>,
}

/// Reads nmap XML (from nmap or from [`write`](super::write)) into the model,
/// holding at most [`DEFAULT_MAX_PORTS`] ports. See the [module docs](super)
/// for what is
/// expanded and what is left out; [`import`] also reports the latter.
pub fn read(xml: &str) -> Result<ScanRun, ImportError> {
    import(xml, DEFAULT_MAX_PORTS).map(|i| i.run)
}

/// Reads nmap XML into the model, holding at most `max_ports` ports, and
/// reports what was left out.
pub fn import(xml: &str, max_ports: usize) -> Result<Import, ImportError> {
    let doc = parse(xml, max_ports)?;
    build(doc, max_ports)
}

#[derive(Default)]
struct RawDoc {
    scanner: Option<String>,
    args: Option<String>,
    version: Option<String>,
    start: Option<Timestamp>,
    finished: Option<Timestamp>,
    scans: Vec<RawScan>,
    hosts: Vec<RawHost>,
}

struct RawScan {
    kind: String,
    protocol: String,
    ranges: Vec<(u16, u16)>,
}

#[derive(Default)]
struct RawHost {
    status: Option<String>,
    address: Option<IpAddr>,
    /// (name, type)
    hostnames: Vec<(String, String)>,
    ports: Vec<RawPort>,
    extraports: Vec<RawExtra>,
    start: Option<Timestamp>,
}

struct RawPort {
    protocol: String,
    port: u16,
    state: Option<String>,
    reason: Option<String>,
    service: Option<RawService>,
    scripts: Vec<RawScript>,
}

#[derive(Default)]
struct RawService {
    name: Option<String>,
    product: Option<String>,
    version: Option<String>,
    extrainfo: Option<String>,
    tunnel: Option<String>,
    method: Option<String>,
    conf: Option<String>,
    cpes: Vec<String>,
}

#[derive(Default)]
struct RawScript {
    id: String,
    output: String,
    /// (key path, text) of `<elem>`s, tables joined with `.`.
    elems: Vec<(String, String)>,
}

struct RawExtra {
    state: String,
    count: u64,
    reasons: Vec<RawReason>,
}

struct RawReason {
    reason: String,
    proto: Option<String>,
    ports: Option<Vec<(u16, u16)>>,
}

/// Where text content goes while it is being read.
enum TextSink {
    Cpe,
    Elem(String),
}

struct Parser<'a> {
    xml: &'a str,
    doc: RawDoc,
    /// Element names from the root to the current element.
    stack: Vec<String>,
    /// `<table key>`s inside the current script.
    table_keys: Vec<String>,
    sink: Option<TextSink>,
    text: String,
    /// Ports counted so far in `services` and `ports` lists.
    listed_budget: usize,
    max_ports: usize,
}

fn parse(xml: &str, max_ports: usize) -> Result<RawDoc, ImportError> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut p = Parser {
        xml,
        doc: RawDoc::default(),
        stack: Vec::new(),
        table_keys: Vec::new(),
        sink: None,
        text: String::new(),
        listed_budget: 0,
        max_ports,
    };
    let mut seen_root = false;
    loop {
        let pos = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(e) => return Err(syntax(xml, reader.error_position(), &e.to_string())),
        };
        match event {
            Event::Start(e) | Event::Empty(e) if p.stack.is_empty() && seen_root => {
                return Err(syntax(
                    xml,
                    pos,
                    &format!(
                        "content after </nmaprun>: <{}>",
                        String::from_utf8_lossy(e.name().as_ref())
                    ),
                ));
            }
            Event::Start(e) => {
                seen_root = true;
                let name = p.open(&e, pos)?;
                p.stack.push(name);
            }
            Event::Empty(e) => {
                seen_root = true;
                let name = p.open(&e, pos)?;
                p.stack.push(name);
                p.close();
            }
            Event::End(_) => p.close(),
            Event::Text(t) => {
                if p.sink.is_some() {
                    let s = t
                        .xml10_content()
                        .map_err(|e| syntax(xml, pos, &e.to_string()))?;
                    p.text.push_str(&s);
                } else if p.stack.is_empty() && !t.iter().all(u8::is_ascii_whitespace) {
                    return Err(syntax(xml, pos, "text outside the root element"));
                }
            }
            Event::CData(c) if p.sink.is_some() => {
                let s = c.decode().map_err(|e| syntax(xml, pos, &e.to_string()))?;
                p.text.push_str(&s);
            }
            Event::GeneralRef(r) => {
                let c: Cow<'_, str> = match r.resolve_char_ref() {
                    Ok(Some(c)) => Cow::Owned(c.to_string()),
                    Ok(None) => {
                        let name = r.decode().map_err(|e| syntax(xml, pos, &e.to_string()))?;
                        match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(s) => Cow::Borrowed(s),
                            None => {
                                return Err(syntax(
                                    xml,
                                    pos,
                                    &format!("undefined entity &{name};"),
                                ));
                            }
                        }
                    }
                    Err(e) => return Err(syntax(xml, pos, &e.to_string())),
                };
                if p.sink.is_some() {
                    p.text.push_str(&c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(open) = p.stack.last() {
        let (line, column) = line_col(xml, xml.len() as u64);
        return Err(ImportError::Truncated {
            open: open.clone(),
            line,
            column,
        });
    }
    if !seen_root {
        return Err(ImportError::NotNmap {
            found: "missing".to_string(),
        });
    }
    Ok(p.doc)
}

/// Attributes of one element, unescaped.
struct Attrs {
    list: Vec<(String, String)>,
}

impl Attrs {
    fn get(&self, key: &str) -> Option<&str> {
        self.list
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn owned(&self, key: &str) -> Option<String> {
        self.get(key).map(str::to_string)
    }
}

impl Parser<'_> {
    fn parent(&self) -> Option<&str> {
        self.stack.last().map(String::as_str)
    }

    fn grandparent(&self) -> Option<&str> {
        self.stack
            .len()
            .checked_sub(2)
            .and_then(|i| self.stack.get(i))
            .map(String::as_str)
    }

    fn invalid(&self, pos: u64, element: &str, problem: String) -> ImportError {
        let (line, column) = line_col(self.xml, pos);
        ImportError::Invalid {
            element: element.to_string(),
            problem,
            line,
            column,
        }
    }

    fn attrs(&self, e: &BytesStart<'_>, pos: u64) -> Result<Attrs, ImportError> {
        let mut list = Vec::new();
        for a in e.attributes() {
            let a = a.map_err(|err| syntax(self.xml, pos, &err.to_string()))?;
            let value = a
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|err| syntax(self.xml, pos, &err.to_string()))?;
            list.push((
                String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                value.into_owned(),
            ));
        }
        Ok(Attrs { list })
    }

    fn number<T: std::str::FromStr>(
        &self,
        attrs: &Attrs,
        element: &str,
        key: &str,
        pos: u64,
    ) -> Result<T, ImportError> {
        let raw = attrs.get(key);
        raw.and_then(|v| v.trim().parse().ok()).ok_or_else(|| {
            self.invalid(
                pos,
                element,
                match raw {
                    Some(v) => format!("has an invalid {key}=\"{v}\""),
                    None => format!("needs a {key} attribute"),
                },
            )
        })
    }

    fn timestamp(
        &self,
        attrs: &Attrs,
        element: &str,
        key: &str,
        pos: u64,
    ) -> Result<Option<Timestamp>, ImportError> {
        if attrs.get(key).is_none() {
            return Ok(None);
        }
        let secs: i64 = self.number(attrs, element, key, pos)?;
        Timestamp::from_second(secs).map(Some).map_err(|_| {
            self.invalid(
                pos,
                element,
                format!("has an out-of-range {key}=\"{secs}\""),
            )
        })
    }

    fn port_list(
        &mut self,
        attrs: &Attrs,
        element: &str,
        key: &str,
        pos: u64,
    ) -> Result<Vec<(u16, u16)>, ImportError> {
        let raw = attrs.get(key).unwrap_or("");
        let ranges = parse_ranges(raw).ok_or_else(|| {
            self.invalid(
                pos,
                element,
                format!("has an invalid port list {key}=\"{raw}\""),
            )
        })?;
        let n: usize = ranges.iter().map(|&(a, b)| usize::from(b - a) + 1).sum();
        self.listed_budget = self.listed_budget.saturating_add(n);
        if self.listed_budget > self.max_ports {
            return Err(ImportError::TooLarge {
                limit: self.max_ports,
            });
        }
        Ok(ranges)
    }

    fn host(&mut self) -> Option<&mut RawHost> {
        self.doc.hosts.last_mut()
    }

    /// Handles a start (or empty) tag; returns its name.
    fn open(&mut self, e: &BytesStart<'_>, pos: u64) -> Result<String, ImportError> {
        let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
        let parent = self.parent().map(str::to_string);
        let parent = parent.as_deref();
        if parent.is_none() && name != "nmaprun" {
            return Err(ImportError::NotNmap {
                found: format!("<{name}>"),
            });
        }
        match (name.as_str(), parent) {
            ("nmaprun", None) => {
                let a = self.attrs(e, pos)?;
                self.doc.scanner = a.owned("scanner");
                self.doc.args = a.owned("args");
                self.doc.version = a.owned("version");
                self.doc.start = self.timestamp(&a, &name, "start", pos)?;
            }
            ("scaninfo", Some("nmaprun")) => {
                let a = self.attrs(e, pos)?;
                let ranges = self.port_list(&a, &name, "services", pos)?;
                self.doc.scans.push(RawScan {
                    kind: a.owned("type").unwrap_or_default(),
                    protocol: a.owned("protocol").unwrap_or_default(),
                    ranges,
                });
            }
            ("host", Some("nmaprun")) => {
                let a = self.attrs(e, pos)?;
                let start = self.timestamp(&a, &name, "starttime", pos)?;
                self.doc.hosts.push(RawHost {
                    start,
                    ..RawHost::default()
                });
            }
            ("status", Some("host")) => {
                let a = self.attrs(e, pos)?;
                if let Some(h) = self.host() {
                    h.status = a.owned("state");
                }
            }
            ("address", Some("host")) => {
                let a = self.attrs(e, pos)?;
                let kind = a.get("addrtype").unwrap_or("ipv4");
                if kind == "ipv4" || kind == "ipv6" {
                    let raw = a.get("addr").unwrap_or("");
                    let addr: IpAddr = raw.trim().parse().map_err(|_| {
                        self.invalid(pos, &name, format!("has an invalid {kind} addr=\"{raw}\""))
                    })?;
                    if let Some(h) = self.host() {
                        h.address.get_or_insert(addr);
                    }
                }
            }
            ("hostname", Some("hostnames")) if self.grandparent() == Some("host") => {
                let a = self.attrs(e, pos)?;
                if let (Some(n), Some(h)) = (a.owned("name"), self.doc.hosts.last_mut())
                    && !n.is_empty()
                {
                    h.hostnames.push((n, a.owned("type").unwrap_or_default()));
                }
            }
            ("extraports", Some("ports")) if self.grandparent() == Some("host") => {
                let a = self.attrs(e, pos)?;
                let count: u64 = self.number(&a, &name, "count", pos)?;
                let state = a.owned("state").unwrap_or_default();
                if let Some(h) = self.host() {
                    h.extraports.push(RawExtra {
                        state,
                        count,
                        reasons: Vec::new(),
                    });
                }
            }
            ("extrareasons", Some("extraports")) => {
                let a = self.attrs(e, pos)?;
                let ports = if a.get("ports").is_some() {
                    Some(self.port_list(&a, &name, "ports", pos)?)
                } else {
                    None
                };
                let reason = RawReason {
                    reason: a.owned("reason").unwrap_or_default(),
                    proto: a.owned("proto"),
                    ports,
                };
                if let Some(x) = self.host().and_then(|h| h.extraports.last_mut()) {
                    x.reasons.push(reason);
                }
            }
            ("port", Some("ports")) if self.grandparent() == Some("host") => {
                let a = self.attrs(e, pos)?;
                let port: u16 = self.number(&a, &name, "portid", pos)?;
                let protocol = a.owned("protocol").unwrap_or_default();
                if let Some(h) = self.host() {
                    h.ports.push(RawPort {
                        protocol,
                        port,
                        state: None,
                        reason: None,
                        service: None,
                        scripts: Vec::new(),
                    });
                }
            }
            ("state", Some("port")) => {
                let a = self.attrs(e, pos)?;
                if let Some(p) = self.current_port() {
                    p.state = a.owned("state");
                    p.reason = a.owned("reason");
                }
            }
            ("service", Some("port")) => {
                let a = self.attrs(e, pos)?;
                if let Some(p) = self.current_port() {
                    p.service = Some(RawService {
                        name: a.owned("name"),
                        product: a.owned("product"),
                        version: a.owned("version"),
                        extrainfo: a.owned("extrainfo"),
                        tunnel: a.owned("tunnel"),
                        method: a.owned("method"),
                        conf: a.owned("conf"),
                        cpes: Vec::new(),
                    });
                }
            }
            ("cpe", Some("service")) if self.grandparent() == Some("port") => {
                self.sink = Some(TextSink::Cpe);
                self.text.clear();
            }
            ("script", Some("port")) => {
                let a = self.attrs(e, pos)?;
                self.table_keys.clear();
                if let Some(p) = self.current_port() {
                    p.scripts.push(RawScript {
                        id: a.owned("id").unwrap_or_default(),
                        output: a.owned("output").unwrap_or_default(),
                        elems: Vec::new(),
                    });
                }
            }
            ("table", Some("script" | "table")) if self.in_port_script() => {
                let a = self.attrs(e, pos)?;
                self.table_keys.push(a.owned("key").unwrap_or_default());
            }
            ("elem", Some("script" | "table")) if self.in_port_script() => {
                let a = self.attrs(e, pos)?;
                let mut path = self.table_keys.join(".");
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(a.get("key").unwrap_or(""));
                self.sink = Some(TextSink::Elem(path));
                self.text.clear();
            }
            ("finished", Some("runstats")) => {
                let a = self.attrs(e, pos)?;
                self.doc.finished = self.timestamp(&a, &name, "time", pos)?;
            }
            _ => {}
        }
        Ok(name)
    }

    fn in_port_script(&self) -> bool {
        let mut it = self.stack.iter().rev();
        for name in it.by_ref() {
            if name != "table" {
                return name == "script" && it.next().map(String::as_str) == Some("port");
            }
        }
        false
    }

    fn current_port(&mut self) -> Option<&mut RawPort> {
        self.doc.hosts.last_mut().and_then(|h| h.ports.last_mut())
    }

    /// Handles the end of the innermost element.
    fn close(&mut self) {
        let Some(name) = self.stack.pop() else { return };
        match name.as_str() {
            "cpe" | "elem" => {
                if let Some(sink) = self.sink.take() {
                    let text = std::mem::take(&mut self.text);
                    match sink {
                        TextSink::Cpe => {
                            if let Some(s) = self.current_port().and_then(|p| p.service.as_mut()) {
                                let t = text.trim();
                                if !t.is_empty() {
                                    s.cpes.push(t.to_string());
                                }
                            }
                        }
                        TextSink::Elem(path) => {
                            if let Some(s) = self.current_port().and_then(|p| p.scripts.last_mut())
                            {
                                s.elems.push((path, text));
                            }
                        }
                    }
                }
            }
            "table" => {
                self.table_keys.pop();
            }
            _ => {}
        }
    }
}

fn proto_of(name: &str) -> Option<Proto> {
    match name {
        "tcp" => Some(Proto::Tcp),
        "udp" => Some(Proto::Udp),
        _ => None,
    }
}

fn state_of(name: &str) -> Option<PortState> {
    match name {
        "open" => Some(PortState::Open),
        "closed" => Some(PortState::Closed),
        "filtered" => Some(PortState::Filtered),
        "open|filtered" => Some(PortState::OpenFiltered),
        _ => None,
    }
}

/// nmap's reason name (singular, or the plural some versions write in
/// `<extrareasons>`), or the usual reason for the state when the name is
/// one the model does not have.
fn reason_of(name: &str, state: PortState, proto: Proto) -> Reason {
    match name {
        "syn-ack" | "syn-acks" => Reason::SynAck,
        "conn-refused" | "reset" | "resets" => Reason::ConnRefused,
        "no-response" | "no-responses" => Reason::NoResponse,
        "host-unreach" | "host-unreaches" => Reason::HostUnreach,
        "net-unreach" | "net-unreaches" => Reason::NetUnreach,
        "admin-prohibited" | "admin-prohibiteds" | "host-prohibited" | "host-prohibiteds"
        | "net-prohibited" | "net-prohibiteds" => Reason::AdminProhibited,
        "udp-response" | "udp-responses" => Reason::UdpResponse,
        "port-unreach" | "port-unreaches" => Reason::PortUnreach,
        _ => match (state, proto) {
            (PortState::Open, Proto::Tcp) => Reason::SynAck,
            (PortState::Open, Proto::Udp) => Reason::UdpResponse,
            (PortState::Closed, Proto::Tcp) => Reason::ConnRefused,
            (PortState::Closed, Proto::Udp) => Reason::PortUnreach,
            (PortState::Filtered | PortState::OpenFiltered, _) => Reason::NoResponse,
        },
    }
}

fn scan_kind_of(name: &str) -> Option<ScanKind> {
    match name {
        "connect" => Some(ScanKind::Connect),
        "syn" => Some(ScanKind::Syn),
        "udp" => Some(ScanKind::Udp),
        _ => None,
    }
}

fn expand(ranges: &[(u16, u16)]) -> impl Iterator<Item = u16> + '_ {
    ranges.iter().flat_map(|&(a, b)| a..=b)
}

fn build(doc: RawDoc, max_ports: usize) -> Result<Import, ImportError> {
    let mut omitted = Vec::new();
    let mut scans: Vec<(ScanKind, Vec<u16>)> = Vec::new();
    // The scanned ports of each protocol, for rebuilding summarised ports.
    let mut scanned: Vec<(Proto, HashSet<u16>)> = Vec::new();
    for s in &doc.scans {
        let Some(kind) = scan_kind_of(&s.kind) else {
            omitted.push(Omission::UnsupportedScan {
                kind: s.kind.clone(),
            });
            continue;
        };
        let mut ports: Vec<u16> = expand(&s.ranges).collect();
        ports.sort_unstable();
        ports.dedup();
        if let Some(proto) = proto_of(&s.protocol) {
            match scanned.iter_mut().find(|(p, _)| *p == proto) {
                Some((_, set)) => set.extend(ports.iter().copied()),
                None => scanned.push((proto, ports.iter().copied().collect())),
            }
        }
        scans.push((kind, ports));
    }

    let started = doc
        .start
        .or_else(|| doc.hosts.iter().find_map(|h| h.start))
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let mut total = 0usize;
    let mut hosts = Vec::new();
    for h in doc.hosts {
        let status = h.status.clone().unwrap_or_else(|| "up".to_string());
        let Some(address) = h.address else {
            omitted.push(Omission::Host {
                address: None,
                status,
            });
            continue;
        };
        if status != "up" {
            omitted.push(Omission::Host {
                address: Some(address),
                status,
            });
            continue;
        }
        let hostname = h
            .hostnames
            .iter()
            .find(|(_, t)| t == "user")
            .or_else(|| h.hostnames.iter().find(|(_, t)| t == "PTR"))
            .or_else(|| h.hostnames.first())
            .map(|(n, _)| n.clone());
        let mut host = HostResult {
            address,
            hostname,
            ports: Vec::new(),
        };
        let mut present: HashSet<(Proto, u16)> = HashSet::new();
        for p in h.ports {
            let Some(protocol) = proto_of(&p.protocol) else {
                omitted.push(Omission::UnsupportedProtocol {
                    address,
                    protocol: p.protocol,
                    port: p.port,
                });
                continue;
            };
            // A port listed individually counts as known even when its state
            // is unsupported, so that summarised groups are not stretched
            // over it.
            if !present.insert((protocol, p.port)) {
                continue;
            }
            let state_name = p.state.unwrap_or_else(|| "unknown".to_string());
            let Some(state) = state_of(&state_name) else {
                omitted.push(Omission::UnsupportedState {
                    address,
                    protocol,
                    port: p.port,
                    state: state_name,
                });
                continue;
            };
            let reason = reason_of(p.reason.as_deref().unwrap_or(""), state, protocol);
            let service = p.service.map(|s| service_of(s, &p.scripts));
            host.ports.push(PortResult {
                address,
                hostname: host.hostname.clone(),
                protocol,
                port: p.port,
                state,
                reason,
                rtt_us: None,
                service,
            });
        }
        expand_extraports(
            &mut host,
            h.extraports,
            &scanned,
            &mut present,
            &mut omitted,
            max_ports.saturating_sub(total),
        )
        .map_err(|()| ImportError::TooLarge { limit: max_ports })?;
        total += host.ports.len();
        if total > max_ports {
            return Err(ImportError::TooLarge { limit: max_ports });
        }
        host.ports.sort_by_key(|p| (p.protocol, p.port));
        hosts.push(host);
    }
    let run = ScanRun {
        scanner: doc.scanner.unwrap_or_else(|| "nmap".to_string()),
        version: doc.version.unwrap_or_default(),
        args: doc.args.unwrap_or_default(),
        started,
        finished: doc.finished.unwrap_or(started),
        scans,
        hosts,
    };
    Ok(Import { run, omitted })
}

/// Adds the ports of `<extraports>` groups to `host` where they are known
/// exactly (see the module docs). `Err` when more than `budget` ports would
/// be added.
fn expand_extraports(
    host: &mut HostResult,
    groups: Vec<RawExtra>,
    scanned: &[(Proto, HashSet<u16>)],
    present: &mut HashSet<(Proto, u16)>,
    omitted: &mut Vec<Omission>,
    budget: usize,
) -> Result<(), ()> {
    let address = host.address;
    let start_len = host.ports.len();
    let push = |host: &mut HostResult,
                present: &mut HashSet<(Proto, u16)>,
                proto: Proto,
                port: u16,
                state: PortState,
                reason: Reason|
     -> Result<(), ()> {
        if present.insert((proto, port)) {
            if host.ports.len() - start_len >= budget {
                return Err(());
            }
            host.ports.push(PortResult {
                address,
                hostname: host.hostname.clone(),
                protocol: proto,
                port,
                state,
                reason,
                rtt_us: None,
                service: None,
            });
        }
        Ok(())
    };

    // Groups whose every <extrareasons> lists its ports are exact.
    let mut legacy: Vec<(RawExtra, PortState)> = Vec::new();
    for g in groups {
        let Some(state) = state_of(&g.state) else {
            omitted.push(Omission::Summarised {
                address,
                state: g.state,
                count: g.count,
            });
            continue;
        };
        let exact = !g.reasons.is_empty()
            && g.reasons
                .iter()
                .all(|r| r.ports.is_some() && r.proto.as_deref().and_then(proto_of).is_some());
        if exact {
            for r in &g.reasons {
                let (Some(ports), Some(proto)) = (&r.ports, r.proto.as_deref().and_then(proto_of))
                else {
                    continue;
                };
                let reason = reason_of(&r.reason, state, proto);
                for port in expand(ports) {
                    push(host, present, proto, port, state, reason)?;
                }
            }
        } else {
            legacy.push((g, state));
        }
    }
    if legacy.is_empty() {
        return Ok(());
    }

    // Older nmap: the scanned ports nobody listed, per protocol.
    let unlisted = |proto: Proto, present: &HashSet<(Proto, u16)>| -> u64 {
        scanned
            .iter()
            .filter(|(p, _)| *p == proto)
            .map(|(_, set)| {
                set.iter()
                    .filter(|&&port| !present.contains(&(proto, port)))
                    .count() as u64
            })
            .sum()
    };
    let protos_of = |g: &RawExtra| -> Option<Vec<Proto>> {
        let mut v: Vec<Proto> = Vec::new();
        for r in &g.reasons {
            let p = proto_of(r.proto.as_deref()?)?;
            if !v.contains(&p) {
                v.push(p);
            }
        }
        if v.is_empty() { None } else { Some(v) }
    };
    // Which protocols each group covers: all scanned protocols for a lone
    // group; the protocols its <extrareasons proto> name otherwise, when no
    // other group names them too.
    let mut plan: Vec<(usize, Vec<Proto>)> = Vec::new();
    if legacy.len() == 1 {
        let protos: Vec<Proto> = scanned.iter().map(|(p, _)| *p).collect();
        plan.push((0, protos));
    } else {
        let claimed: Vec<Option<Vec<Proto>>> = legacy.iter().map(|(g, _)| protos_of(g)).collect();
        for (i, c) in claimed.iter().enumerate() {
            let Some(protos) = c else { continue };
            let shared = claimed.iter().enumerate().any(|(j, o)| {
                j != i
                    && o.as_ref()
                        .is_some_and(|o| o.iter().any(|p| protos.contains(p)))
            });
            if !shared {
                plan.push((i, protos.clone()));
            }
        }
    }
    let mut done = vec![false; legacy.len()];
    for (i, protos) in plan {
        let (g, state) = &legacy[i];
        let n: u64 = protos.iter().map(|&p| unlisted(p, present)).sum();
        if n != g.count || n == 0 {
            continue;
        }
        for proto in protos {
            // The reason: the group's only one for the protocol, or the
            // usual one for the state when several could apply.
            let candidates: Vec<&RawReason> = g
                .reasons
                .iter()
                .filter(|r| {
                    r.proto
                        .as_deref()
                        .is_none_or(|p| proto_of(p) == Some(proto))
                })
                .collect();
            let reason_name = match candidates.as_slice() {
                [only] => only.reason.as_str(),
                _ => "",
            };
            let reason = reason_of(reason_name, *state, proto);
            let mut ports: Vec<u16> = scanned
                .iter()
                .filter(|(p, _)| *p == proto)
                .flat_map(|(_, set)| set.iter().copied())
                .filter(|&port| !present.contains(&(proto, port)))
                .collect();
            ports.sort_unstable();
            for port in ports {
                push(host, present, proto, port, *state, reason)?;
            }
        }
        done[i] = true;
    }
    for ((g, _), done) in legacy.into_iter().zip(done) {
        if !done {
            omitted.push(Omission::Summarised {
                address,
                state: g.state,
                count: g.count,
            });
        }
    }
    Ok(())
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

fn service_of(s: RawService, scripts: &[RawScript]) -> ServiceInfo {
    let cpe = s
        .cpes
        .iter()
        .find(|c| c.starts_with("cpe:/a:") || c.starts_with("cpe:2.3:a:"))
        .or_else(|| s.cpes.first())
        .map(|c| {
            if c.starts_with("cpe:2.3:") {
                c.clone()
            } else {
                cpe_uri_to_23(c).unwrap_or_else(|| c.clone())
            }
        });
    let method = match s.method.as_deref() {
        Some("table") | None => ServiceInfo::GUESS.to_string(),
        Some("probed") => "probe".to_string(),
        Some(other) => other.to_string(),
    };
    let mut info = ServiceInfo {
        name: s.name.unwrap_or_default(),
        product: non_empty(s.product),
        version: non_empty(s.version),
        extra: non_empty(s.extrainfo),
        cpe,
        unauthenticated: None,
        tls: (s.tunnel.as_deref() == Some("ssl")).then(TlsInfo::default),
        // nmap's scale ends at 10; a document without `conf` is rated by
        // its method.
        conf: s
            .conf
            .as_deref()
            .and_then(|c| c.parse::<u8>().ok())
            .map_or_else(|| ServiceInfo::conf_for(&method), |c| c.min(10)),
        method,
    };
    for script in scripts {
        let elem = |key: &str| {
            script
                .elems
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        match script.id.as_str() {
            SCRIPT_ID => {
                info.unauthenticated = match elem("unauthenticated").as_deref() {
                    Some("true") => Some(true),
                    Some("false") => Some(false),
                    _ => None,
                };
                if script.elems.iter().any(|(k, _)| k.starts_with("tls.")) {
                    let tls = info.tls.get_or_insert_with(TlsInfo::default);
                    tls.version = elem("tls.version").unwrap_or_default();
                    tls.alpn = elem("tls.alpn");
                    tls.subject = elem("tls.subject");
                    tls.issuer = elem("tls.issuer");
                    tls.not_after = elem("tls.not_after");
                }
            }
            "ssl-cert" => {
                // nmap's own certificate script: take what its text says.
                let tls = info.tls.get_or_insert_with(TlsInfo::default);
                for line in script.output.lines() {
                    let line = line.trim();
                    if let Some(v) = line.strip_prefix("Subject:") {
                        tls.subject.get_or_insert_with(|| v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("Issuer:") {
                        tls.issuer.get_or_insert_with(|| v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("Not valid after:") {
                        tls.not_after.get_or_insert_with(|| v.trim().to_string());
                    }
                }
            }
            _ => {}
        }
    }
    info
}

fn syntax(xml: &str, offset: u64, message: &str) -> ImportError {
    let (line, column) = line_col(xml, offset);
    ImportError::Syntax {
        offset,
        line,
        column,
        message: message.to_string(),
    }
}

/// Line and column (in characters), both from 1, of a byte offset.
fn line_col(xml: &str, offset: u64) -> (usize, usize) {
    let end = usize::try_from(offset).unwrap_or(usize::MAX).min(xml.len());
    let before = &xml.as_bytes()[..end];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = before[line_start..]
        .iter()
        .filter(|&&b| (b & 0xC0) != 0x80)
        .count()
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_errors_in_lines_and_characters() {
        assert_eq!(line_col("ab\ncdé\nf", 0), (1, 1));
        assert_eq!(line_col("ab\ncdé\nf", 3), (2, 1));
        assert_eq!(line_col("ab\ncdé\nf", 7), (2, 4));
        assert_eq!(line_col("ab", 99), (1, 3));
    }
}
