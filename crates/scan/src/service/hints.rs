//! What a port number suggests: which probes to try first, whether to wait
//! for a greeting, and the service name to report when nothing answers
//! intelligibly.
//!
//! The names are the ones identification itself reports (nmap's names where
//! nmap has one), so a guess and an identification compare directly.

use super::Probe;

/// How to start identifying a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Probes in order: the port's likely protocols, then HTTP and TLS, then
    /// every other probe.
    pub(crate) probes: Vec<Probe>,
    /// Wait for a greeting before probing (unknown ports and protocols
    /// whose servers speak first).
    pub(crate) wait_for_banner: bool,
    /// Inside TLS, expect HTTP rather than a greeting.
    pub(crate) expect_http: bool,
}

/// The probes a port suggests, most likely first.
fn likely(port: u16) -> &'static [Probe] {
    use Probe::*;
    match port {
        80 | 81 | 591 | 3000 | 5000 | 5601 | 8000 | 8008 | 8080 | 8081 | 8088 | 8888 | 9000
        | 9090 | 9200 | 9201 | 2375 | 2379 | 2380 | 4243 => &[Http],
        443 | 8443 | 9443 | 6443 | 2376 | 4443 | 10250 => &[Tls],
        465 | 636 | 989 | 990 | 993 | 995 | 5986 => &[Tls],
        6379 | 6380 => &[Redis],
        11211 => &[Memcached],
        5432 | 5433 => &[Postgres],
        27017..=27019 => &[Mongodb],
        9092 | 9093 | 9094 | 29092 => &[Kafka],
        2181 | 2182 => &[Zookeeper],
        3389 => &[Rdp],
        _ => &[],
    }
}

/// Ports whose usual protocol has the server speak first.
fn server_speaks_first(port: u16) -> bool {
    matches!(
        port,
        21 | 22 | 23 | 25 | 110 | 143 | 587 | 2222 | 2525 | 3306 | 3307 | 5900..=5910
    )
}

/// The plan for `port`.
pub(crate) fn plan(port: u16) -> Plan {
    let first = likely(port);
    let mut probes: Vec<Probe> = first.to_vec();
    for p in Probe::ALL {
        if !probes.contains(&p) {
            probes.push(p);
        }
    }
    Plan {
        probes,
        // A port we expect a client-first protocol on is probed at once: a
        // greeting, if one comes anyway, arrives as the probe's answer.
        wait_for_banner: first.is_empty() || server_speaks_first(port),
        expect_http: matches!(port, 443 | 8443 | 9443 | 6443 | 2376 | 4443 | 10250),
    }
}

/// The service usually found on `port`.
pub(crate) fn guess(port: u16) -> Option<&'static str> {
    Some(match port {
        21 => "ftp",
        22 => "ssh",
        23 => "telnet",
        25 => "smtp",
        53 => "domain",
        80 | 8000 | 8008 | 8080 | 8888 | 9200 => "http",
        110 => "pop3",
        111 => "rpcbind",
        135 => "msrpc",
        139 => "netbios-ssn",
        143 => "imap",
        389 => "ldap",
        443 | 8443 => "https",
        445 => "microsoft-ds",
        465 => "smtps",
        587 => "submission",
        636 => "ldapssl",
        873 => "rsync",
        990 => "ftps",
        993 => "imaps",
        995 => "pop3s",
        1433 => "ms-sql-s",
        1521 => "oracle",
        2049 => "nfs",
        2181 => "zookeeper",
        2375 => "docker",
        2376 => "ssl/docker",
        2379 => "etcd-client",
        2380 => "etcd-server",
        3306 => "mysql",
        3389 => "ms-wbt-server",
        5432 => "postgresql",
        5672 => "amqp",
        5900 => "vnc",
        6379 => "redis",
        9092 => "kafka",
        11211 => "memcache",
        27017 => "mongodb",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans() {
        let redis = plan(6379);
        assert_eq!(redis.probes[0], Probe::Redis);
        assert!(!redis.wait_for_banner);
        assert_eq!(redis.probes.len(), Probe::ALL.len());
        let unknown = plan(40000);
        assert!(unknown.wait_for_banner);
        assert_eq!(unknown.probes[..2], [Probe::Http, Probe::Tls]);
        assert!(plan(22).wait_for_banner);
        assert!(plan(443).expect_http);
        assert_eq!(guess(11211), Some("memcache"));
        assert_eq!(guess(40000), None);
    }
}
