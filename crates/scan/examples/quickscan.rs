//! Development aid: scan TARGET PORTS and print a summary (SYN=1 for raw SYN).
use portreeve_scan::target::{expand, parse_spec, resolve};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let specs = vec![parse_spec(&args[1]).unwrap()];
    let targets = expand(&specs, &[], resolve).unwrap();
    let ports = portreeve_scan::ports::parse_ports(&args[2]).unwrap();
    let open = std::sync::Mutex::new(Vec::new());
    let counts = std::sync::Mutex::new(std::collections::BTreeMap::new());
    let t = std::time::Instant::now();
    let report = |r: portreeve_scan::PortResult| {
        *counts.lock().unwrap().entry(r.state).or_insert(0) += 1;
        if r.state == portreeve_scan::PortState::Open {
            open.lock().unwrap().push(r.port);
        }
    };
    let stats = if std::env::var("SYN").is_ok() {
        portreeve_scan::tcp_syn::scan(&targets, &ports, &Default::default(), &report).unwrap()
    } else {
        portreeve_scan::tcp_connect::scan(&targets, &ports, &Default::default(), &report)
    };
    let mut o = open.into_inner().unwrap();
    o.sort();
    o.dedup();
    println!(
        "{:?} {:?} open={:?} {:?}",
        t.elapsed(),
        counts.into_inner().unwrap(),
        o,
        stats
    );
}
