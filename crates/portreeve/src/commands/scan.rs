//! `portreeve scan`: targets and ports are parsed and expanded before the
//! first probe, so bad input changes nothing and sends nothing; then the
//! engines probe and the results are rendered.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use portreeve_app::input;
use portreeve_core::Proto;
use portreeve_scan::service::{self, ServiceOptions};
use portreeve_scan::target::{self, Target, TargetSpec};
use portreeve_scan::tcp_connect::TcpOptions;
use portreeve_scan::udp::{self, UdpOptions};
use portreeve_scan::{
    HostResult, PortResult, PortState, ScanKind, ScanRun, ServiceInfo, ports, tcp_connect, tcp_syn,
};

use crate::cli::{ScanArgs, ScanFormat};
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::{counted, emit, emit_hint, table};

/// `kind` of a scan document.
const SCAN_KIND: &str = "portreeve.scan";

pub fn run(args: &ScanArgs) -> Result<u8, Failure> {
    if let Some(file) = &args.import {
        let run = import(file)?;
        render(args, &run, Duration::ZERO);
        return Ok(EXIT_OK);
    }
    let plan = plan(args)?;
    let started = Timestamp::now();
    let clock = Instant::now();
    let total: usize = plan
        .scans
        .iter()
        .map(|(_, ports)| ports.len())
        .sum::<usize>()
        * plan.targets.len();
    let progress = progress_bar(total as u64, "ports");
    let results: Mutex<Vec<PortResult>> = Mutex::new(Vec::with_capacity(total.min(1 << 20)));
    let stream = args.format == ScanFormat::Jsonl;
    let report = |r: PortResult| {
        progress.inc(1);
        // With --service an open TCP port is streamed once it is identified.
        let identify_later = args.service && r.protocol == Proto::Tcp && r.state == PortState::Open;
        if stream && !identify_later && (args.all || interesting(r.state)) {
            stream_line(&r);
        }
        results
            .lock()
            .expect("no panics while holding the lock")
            .push(r);
    };
    let max_timeout = args.max_rtt.and_then(|d| Duration::try_from(d).ok());
    for (kind, ports) in &plan.scans {
        match kind {
            ScanKind::Connect | ScanKind::Syn => {
                let opts = TcpOptions {
                    max_retries: args.max_retries,
                    max_timeout: max_timeout.unwrap_or(TcpOptions::default().max_timeout),
                    rate: args.rate,
                    ..TcpOptions::default()
                };
                if *kind == ScanKind::Syn {
                    tcp_syn::scan(&plan.targets, ports, &opts, &report)
                        .map_err(|e| Failure::Operational(e.to_string()))?;
                } else {
                    tcp_connect::scan(&plan.targets, ports, &opts, &report);
                }
            }
            ScanKind::Udp => {
                let opts = UdpOptions {
                    max_retries: args.max_retries,
                    max_timeout: max_timeout.unwrap_or(UdpOptions::default().max_timeout),
                    rate: args.rate,
                    defeat_icmp_ratelimit: args.defeat_icmp_ratelimit,
                    ..UdpOptions::default()
                };
                udp::scan(&plan.targets, ports, &opts, &report);
            }
        }
    }
    progress.finish_and_clear();
    let mut results = results.into_inner().expect("workers joined");
    if args.service {
        let opts = ServiceOptions {
            timeout: args
                .service_timeout
                .and_then(|d| Duration::try_from(d).ok())
                .unwrap_or(ServiceOptions::default().timeout),
            ..ServiceOptions::default()
        };
        identify_services(&mut results, &opts);
        if stream {
            results
                .iter()
                .filter(|r| r.protocol == Proto::Tcp && r.state == PortState::Open)
                .for_each(stream_line);
        }
    }
    let run = assemble(started, &plan, results);
    render(args, &run, clock.elapsed());
    Ok(EXIT_OK)
}

/// One `--format jsonl` line, written at once so lines from several workers
/// never interleave.
fn stream_line(r: &PortResult) {
    let line = serde_json::to_string(r).expect("port results serialise");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

/// Names the service on every open TCP port (UDP services are named by the
/// UDP engine from the reply to its payload), with a progress bar of its
/// own: identification takes a few round trips per port.
fn identify_services(results: &mut [PortResult], opts: &ServiceOptions) {
    let open = results
        .iter()
        .filter(|r| r.protocol == Proto::Tcp && r.state == PortState::Open)
        .count();
    if open == 0 {
        return;
    }
    let progress = progress_bar(open as u64, "services");
    progress.enable_steady_tick(Duration::from_millis(200));
    service::identify_open(results, opts);
    progress.finish_and_clear();
}

/// Writes a finished run in the requested format (jsonl was streamed while
/// scanning, except for an import).
fn render(args: &ScanArgs, run: &ScanRun, elapsed: Duration) {
    match args.format {
        ScanFormat::Jsonl if args.import.is_some() => {
            for p in run
                .hosts
                .iter()
                .flat_map(|h| &h.ports)
                .filter(|p| args.all || interesting(p.state))
            {
                emit(&format!(
                    "{}\n",
                    serde_json::to_string(p).expect("port results serialise")
                ));
            }
        }
        ScanFormat::Jsonl => {}
        ScanFormat::Json => emit_document(run, args.all),
        ScanFormat::Xml => emit(&portreeve_scan::nmap_xml::write(run)),
        ScanFormat::Grepable => emit(&portreeve_scan::grepable::write(run)),
        ScanFormat::Table => {
            emit(&render_table(run, args.all, table::stdout_colour()));
            emit_hint(&footer(run, args.all, elapsed));
        }
    }
}

/// Reads an nmap XML file into the scan model; a malformed file is a
/// located input error.
pub fn import(file: &std::path::Path) -> Result<ScanRun, Failure> {
    let text = input::read_text(file, "nmap XML").map_err(|e| Failure::Input(e.to_string()))?;
    let imported =
        portreeve_scan::nmap_xml::import(&text, portreeve_scan::nmap_xml::DEFAULT_MAX_PORTS)
            .map_err(|e| Failure::Input(format!("{}: {e}", input::origin(file))))?;
    for o in &imported.omitted {
        tracing::warn!("{}: not imported: {o}", input::origin(file));
    }
    Ok(imported.run)
}

/// What a scan will do: the targets, fully expanded, and each scan type
/// with its ports.
struct Plan {
    targets: Vec<Target>,
    scans: Vec<(ScanKind, Vec<u16>)>,
}

/// Targets, scan types and ports, fully expanded and checked: every input
/// error is found here, before anything is sent.
fn plan(args: &ScanArgs) -> Result<Plan, Failure> {
    let parse = |specs: &[String]| -> Result<Vec<TargetSpec>, Failure> {
        specs
            .iter()
            .map(|s| target::parse_spec(s).map_err(|e| Failure::Input(e.to_string())))
            .collect()
    };
    let mut specs = parse(&args.targets)?;
    if let Some(file) = &args.target_file {
        specs.extend(read_target_file(file)?);
    }
    let exclude = parse(&args.exclude)?;
    let listed = match &args.ports {
        Some(p) => Some(ports::parse_ports(p).map_err(|e| Failure::Input(format!("-p {e}")))?),
        None => None,
    };
    let top = args.top.unwrap_or(1000) as usize;
    let mut scans = Vec::new();
    if !args.udp || args.tcp || args.syn {
        let kind = if args.syn {
            ScanKind::Syn
        } else {
            ScanKind::Connect
        };
        scans.push((
            kind,
            listed.clone().unwrap_or_else(|| ports::top_ports(top)),
        ));
    }
    if args.udp {
        scans.push((
            ScanKind::Udp,
            listed.unwrap_or_else(|| ports::top_udp_ports(top)),
        ));
    }
    let targets = target::expand(&specs, &exclude, target::resolve)
        .map_err(|e| Failure::Input(e.to_string()))?;
    Ok(Plan { targets, scans })
}

/// The targets of a `--target-file` (whitespace separated, `#` starts a
/// comment), each error located as `FILE:LINE:` so it can be found in a
/// long list.
fn read_target_file(file: &std::path::Path) -> Result<Vec<TargetSpec>, Failure> {
    let text = input::read_text(file, "target file").map_err(|e| Failure::Input(e.to_string()))?;
    let mut specs = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default();
        for word in line.split_whitespace() {
            let spec = target::parse_spec(word).map_err(|e| {
                Failure::Input(format!("{}:{}: {e}", input::origin(file), number + 1))
            })?;
            specs.push(spec);
        }
    }
    Ok(specs)
}

/// A progress bar with ETA on standard error when it is a terminal; hidden
/// otherwise, so pipes and logs stay clean.
fn progress_bar(total: u64, unit: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{bar:40}} {{pos}}/{{len}} {unit}  {{per_sec}}  ETA {{eta}}"
        ))
        .expect("a valid template"),
    );
    bar
}

/// States worth listing by default; the others are counted.
fn interesting(state: PortState) -> bool {
    matches!(state, PortState::Open | PortState::OpenFiltered)
}

/// Groups results by host, in target order, ports sorted.
fn assemble(started: Timestamp, plan: &Plan, results: Vec<PortResult>) -> ScanRun {
    let mut by_host: BTreeMap<IpAddr, Vec<PortResult>> = BTreeMap::new();
    for r in results {
        by_host.entry(r.address).or_default().push(r);
    }
    let hosts = plan
        .targets
        .iter()
        .map(|t| {
            let mut ports = by_host.remove(&t.address).unwrap_or_default();
            ports.sort_by_key(|p| (p.protocol, p.port));
            HostResult {
                address: t.address,
                hostname: t.hostname.clone(),
                ports,
            }
        })
        .collect();
    ScanRun {
        scanner: "portreeve".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        args: std::env::args().collect::<Vec<_>>().join(" "),
        started,
        finished: Timestamp::now(),
        scans: plan.scans.clone(),
        hosts,
    }
}

/// Per host: how many ports ended in each state.
fn state_counts(host: &HostResult) -> BTreeMap<PortState, usize> {
    let mut counts = BTreeMap::new();
    for p in &host.ports {
        *counts.entry(p.state).or_default() += 1;
    }
    counts
}

/// A host as the table and its footer name it: its address, and the name
/// it was given as in parentheses.
fn shown_host(host: &HostResult) -> String {
    match &host.hostname {
        Some(name) => format!("{} ({name})", host.address),
        None => host.address.to_string(),
    }
}

/// The table of the ports shown: standard output carries only these rows
/// (the counts of the others and the run's totals are the [`footer`]).
fn render_table(run: &ScanRun, all: bool, colour: bool) -> String {
    // The AUTH column appears once identification learnt something about
    // access: NONE is a service that lets anyone in.
    let with_auth = run.hosts.iter().flat_map(|h| &h.ports).any(|p| {
        p.service
            .as_ref()
            .is_some_and(|s| s.unauthenticated.is_some())
    });
    let mut rows = Vec::new();
    for host in &run.hosts {
        for p in host.ports.iter().filter(|p| all || interesting(p.state)) {
            let service = p.service.as_ref();
            let mut row = vec![
                shown_host(host),
                format!("{}/{}", p.port, p.protocol),
                p.state.to_string(),
                p.reason.as_str().to_string(),
                service.map_or_else(|| "-".into(), ServiceInfo::shown_name),
                service
                    .map(|s| {
                        [
                            s.product.as_deref(),
                            s.version.as_deref(),
                            s.extra.as_deref(),
                        ]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" ")
                    })
                    .unwrap_or_default(),
            ];
            if with_auth {
                row.push(
                    match service.and_then(|s| s.unauthenticated) {
                        Some(true) => "NONE",
                        Some(false) => "required",
                        None => "-",
                    }
                    .to_string(),
                );
            }
            rows.push(row);
        }
    }
    if rows.is_empty() {
        return String::new();
    }
    let mut header = vec!["HOST", "PORT", "STATE", "REASON", "SERVICE", "VERSION"];
    if with_auth {
        header.push("AUTH");
    }
    table::rows(&header, &rows, colour)
}

/// What the table leaves out, for people (on standard error, as every
/// table's footer): per host the ports of the states not shown, counted,
/// then how many ports and hosts were scanned in how long.
fn footer(run: &ScanRun, all: bool, elapsed: Duration) -> String {
    let mut out = String::new();
    for host in run.hosts.iter().filter(|_| !all) {
        let others: Vec<String> = state_counts(host)
            .into_iter()
            .filter(|(s, _)| !interesting(*s))
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        if !others.is_empty() {
            out.push_str(&format!(
                "{}: not shown: {}\n",
                shown_host(host),
                others.join(", ")
            ));
        }
    }
    let probed: usize = run.hosts.iter().map(|h| h.ports.len()).sum();
    out.push_str(&format!(
        "Scanned {} on {} in {:.2}s\n",
        counted(probed, "port"),
        counted(run.hosts.len(), "host"),
        elapsed.as_secs_f64()
    ));
    out
}

/// `portreeve scan --format json`: a `portreeve.scan` document.
fn emit_document(run: &ScanRun, all: bool) {
    let scans: Vec<serde_json::Value> = run
        .scans
        .iter()
        .map(|(kind, ports)| serde_json::json!({ "type": kind, "protocol": kind.protocol(), "ports": ports.len() }))
        .collect();
    let hosts: Vec<serde_json::Value> = run
        .hosts
        .iter()
        .map(|h| {
            let listed: Vec<&PortResult> = h
                .ports
                .iter()
                .filter(|p| all || interesting(p.state))
                .collect();
            let states: BTreeMap<&str, usize> = state_counts(h)
                .into_iter()
                .map(|(s, n)| (s.as_str(), n))
                .collect();
            serde_json::json!({
                "address": h.address,
                "hostname": h.hostname,
                "states": states,
                "ports": to_value(&listed),
            })
        })
        .collect();
    emit_listing(
        SCAN_KIND,
        &[
            ("scanner_args", to_value(&run.args)),
            ("started", to_value(&run.started)),
            ("finished", to_value(&run.finished)),
            ("scans", serde_json::Value::Array(scans)),
            ("hosts", serde_json::Value::Array(hosts)),
        ],
    );
}
