//! Times the stages of `k8s reach` inside one process, for bench/k8s.sh:
//! reading the manifests, then listing every allowed connection with
//! [`portreeve_k8s::reach`] (what the table output uses, one `Record` each)
//! and with [`portreeve_k8s::reach::reach_with`] (nothing kept), and
//! writing them as JSON into a sink (what `--format json` does). Prints one
//! `stage seconds` line per stage and the number of records.
//!
//!     cargo run --release -p portreeve-k8s --example reach_timing -- PATH…

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    assert!(!paths.is_empty(), "usage: reach_timing PATH…");
    let start = Instant::now();
    let cluster = portreeve_k8s::manifest::read_paths(&paths).expect("readable manifests");
    println!("read {:.3}", start.elapsed().as_secs_f64());

    let start = Instant::now();
    let records = portreeve_k8s::reach(&cluster);
    println!("reach {:.3}", start.elapsed().as_secs_f64());

    let start = Instant::now();
    let mut streamed = 0usize;
    portreeve_k8s::reach::reach_with(&cluster, |_| streamed += 1);
    println!("reach_with {:.3}", start.elapsed().as_secs_f64());

    assert_eq!(records.len(), streamed, "both list the same connections");

    let start = Instant::now();
    let mut json = std::io::BufWriter::new(std::io::sink());
    portreeve_k8s::reach::json::write_connections(&mut json, &cluster).expect("a sink takes all");
    println!("json {:.3}", start.elapsed().as_secs_f64());
    println!("records {streamed}");
}
