//! The host-wide measures, read from the kernel's text files: CPU use
//! from `/proc/stat`, memory in use from `/proc/meminfo`, listen-queue
//! overflows from `/proc/net/netstat`, established connections per port
//! from `/proc/net/tcp{,6}`. Parsing is separate from reading so
//! every format detail is tested on text the tests write.

use std::path::Path;

/// Why a kernel file could not be read as expected.
#[derive(Debug, thiserror::Error)]
pub enum HostReadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file does not say what this reader expects.
    #[error("{path}: {why}")]
    Format {
        /// The file.
        path: String,
        /// What is missing or malformed.
        why: String,
    },
}

/// The CPU time counters of `/proc/stat`'s `cpu` line, in clock ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// Ticks spent doing nothing (idle and waiting for I/O).
    pub idle: u64,
    /// All ticks (guest time is already inside user and nice).
    pub total: u64,
}

impl CpuTimes {
    /// The share of the time between `earlier` and `self` the CPUs were
    /// busy, in percent; `None` when no tick passed.
    pub fn busy_percent_since(&self, earlier: &CpuTimes) -> Option<f64> {
        let total = self.total.checked_sub(earlier.total)?;
        let idle = self.idle.checked_sub(earlier.idle)?;
        (total > 0).then(|| 100.0 * total.saturating_sub(idle) as f64 / total as f64)
    }
}

/// The aggregate `cpu` line of `/proc/stat`'s text.
pub fn parse_cpu_times(text: &str) -> Result<CpuTimes, String> {
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some("cpu"))
        .ok_or("no `cpu` line")?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| {
            f.parse::<u64>()
                .map_err(|_| format!("`{f}` is not a tick count"))
        })
        .collect::<Result<_, _>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]
    if fields.len() < 4 {
        return Err(format!(
            "the `cpu` line has {} fields, not at least 4",
            fields.len()
        ));
    }
    let counted = &fields[..fields.len().min(8)];
    Ok(CpuTimes {
        idle: fields[3] + fields.get(4).copied().unwrap_or(0),
        total: counted.iter().sum(),
    })
}

/// The share of memory in use, in percent, from `/proc/meminfo`'s text:
/// what is not `MemAvailable` (the kernel's own estimate of what can be
/// had without swapping) of `MemTotal`.
pub fn parse_memory_percent(text: &str) -> Result<f64, String> {
    let field = |name: &str| -> Result<u64, String> {
        let line = text
            .lines()
            .find(|l| l.split(':').next() == Some(name))
            .ok_or_else(|| format!("no `{name}` line"))?;
        line.split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("`{name}` is not a number of kB"))
    };
    let (total, available) = (field("MemTotal")?, field("MemAvailable")?);
    if total == 0 {
        return Err("MemTotal is 0".into());
    }
    Ok(100.0 * total.saturating_sub(available) as f64 / total as f64)
}

/// The count of connections dropped because a listen queue was full
/// (`TcpExt: ListenOverflows`) since boot, from `/proc/net/netstat`'s
/// text, where each group is a line of names followed by a line of values.
pub fn parse_listen_overflows(text: &str) -> Result<u64, String> {
    let mut lines = text.lines();
    while let Some(names) = lines.next() {
        let values = lines.next().ok_or("a line of names without values")?;
        let Some(rest) = names.strip_prefix("TcpExt:") else {
            continue;
        };
        let values = values
            .strip_prefix("TcpExt:")
            .ok_or("the TcpExt names are not followed by their values")?;
        let index = rest
            .split_whitespace()
            .position(|n| n == "ListenOverflows")
            .ok_or("no ListenOverflows counter")?;
        return values
            .split_whitespace()
            .nth(index)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| "the ListenOverflows value is missing or not a number".into());
    }
    Err("no TcpExt counters".into())
}

/// TCP connections established to local `port` in this network
/// namespace, IPv4 and IPv6, from `/proc/net/tcp` and `/proc/net/tcp6`
/// (the latter absent on a kernel without IPv6).
pub fn established(port: u16) -> Result<usize, HostReadError> {
    let mut n = 0;
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        match std::fs::read_to_string(file) {
            Ok(text) => n += established_in(&text, port),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(HostReadError::Io {
                    path: file.to_owned(),
                    source,
                });
            }
        }
    }
    Ok(n)
}

/// The lines of a `/proc/net/tcp` text in state ESTABLISHED (`01`) whose
/// local address is on `port`.
pub fn established_in(text: &str, port: u16) -> usize {
    let port = format!(":{port:04X}");
    text.lines()
        .skip(1)
        .filter(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1).unwrap_or("");
            let st = fields.nth(1).unwrap_or("");
            local.ends_with(&port) && st == "01"
        })
        .count()
}

/// Reads `path` and parses it with `parse`.
pub fn read<T>(path: &Path, parse: fn(&str) -> Result<T, String>) -> Result<T, HostReadError> {
    let text = std::fs::read_to_string(path).map_err(|source| HostReadError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text).map_err(|why| HostReadError::Format {
        path: path.display().to_string(),
        why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_use_is_the_busy_share_of_the_ticks_between_two_readings() {
        let before = parse_cpu_times(
            "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\nintr 1\n",
        )
        .unwrap();
        assert_eq!(
            before,
            CpuTimes {
                idle: 850,
                total: 1000
            }
        );
        // 100 more ticks: 60 user, 10 system, 25 idle, 5 iowait.
        let after = parse_cpu_times("cpu  160 0 60 825 55 0 0 0 0 0\n").unwrap();
        assert_eq!(after.busy_percent_since(&before), Some(70.0));
        assert_eq!(after.busy_percent_since(&after), None, "no tick passed");
        assert_eq!(
            before.busy_percent_since(&after),
            None,
            "counters went back"
        );
    }

    #[test]
    fn guest_time_is_not_counted_twice_and_short_lines_are_read() {
        // guest (9th) and guest_nice (10th) are inside user and nice.
        let t = parse_cpu_times("cpu 10 0 0 90 0 0 0 0 7 3\n").unwrap();
        assert_eq!(
            t,
            CpuTimes {
                idle: 90,
                total: 100
            }
        );
        // Kernels before 2.6 wrote four fields.
        assert_eq!(
            parse_cpu_times("cpu 1 2 3 4\n").unwrap(),
            CpuTimes { idle: 4, total: 10 }
        );
    }

    #[test]
    fn malformed_stat_text_is_refused_with_the_reason() {
        assert_eq!(parse_cpu_times("intr 1\n").unwrap_err(), "no `cpu` line");
        assert_eq!(
            parse_cpu_times("cpu 1 x 3 4\n").unwrap_err(),
            "`x` is not a tick count"
        );
        assert!(
            parse_cpu_times("cpu 1 2\n")
                .unwrap_err()
                .contains("not at least 4")
        );
    }

    #[test]
    fn memory_in_use_is_what_is_not_available() {
        let text = "MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    4000000 kB\n";
        assert_eq!(parse_memory_percent(text).unwrap(), 75.0);
        assert_eq!(
            parse_memory_percent("MemTotal: 10 kB\n").unwrap_err(),
            "no `MemAvailable` line"
        );
    }

    #[test]
    fn listen_overflows_are_found_by_name_in_the_tcpext_group() {
        let text = "TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops\nTcpExt: 0 0 17 19\nIpExt: InNoRoutes\nIpExt: 0\n";
        assert_eq!(parse_listen_overflows(text).unwrap(), 17);
        let no_tcpext = "IpExt: InNoRoutes\nIpExt: 0\n";
        assert_eq!(
            parse_listen_overflows(no_tcpext).unwrap_err(),
            "no TcpExt counters"
        );
        assert!(parse_listen_overflows("TcpExt: ListenOverflows\n").is_err());
    }

    #[test]
    fn this_hosts_files_read() {
        let cpu = read(Path::new("/proc/stat"), parse_cpu_times).unwrap();
        assert!(cpu.total >= cpu.idle && cpu.total > 0);
        let memory = read(Path::new("/proc/meminfo"), parse_memory_percent).unwrap();
        assert!((0.0..=100.0).contains(&memory));
        read(Path::new("/proc/net/netstat"), parse_listen_overflows).unwrap();
        assert!(matches!(
            read(Path::new("/proc/no-such-file"), parse_cpu_times),
            Err(HostReadError::Io { .. })
        ));
    }

    #[test]
    fn established_counts_only_established_connections_to_the_port() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n\
   1: 0100007F:0050 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 2 1\n\
   2: 0100007F:0050 0100007F:D432 01 00000000:00000000 00:00000000 00000000     0        0 3 1\n\
   3: 0100007F:0050 0100007F:D433 06 00000000:00000000 00:00000000 00000000     0        0 4 1\n\
   4: 0100007F:D434 0100007F:0050 01 00000000:00000000 00:00000000 00000000     0        0 5 1\n\
   5: 0100007F:1F90 0100007F:D435 01 00000000:00000000 00:00000000 00000000     0        0 6 1\n";
        // Two established to :80; not the listener (0A), not TIME_WAIT
        // (06), not an outgoing connection to a remote :80, not :8080.
        assert_eq!(established_in(text, 80), 2);
        assert_eq!(established_in(text, 8080), 1);
        assert_eq!(established_in(text, 443), 0);
    }
}
