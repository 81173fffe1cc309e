//! Service identification against real servers in network namespaces the
//! test creates: nginx (HTTP and TLS), Redis with and without a password,
//! Memcached and OpenSSH from Debian's packages, and small fake servers
//! (Python, below) speaking just enough of the other protocols. Servers run
//! in one namespace, identification in another; nothing leaves them, and
//! every process started is killed when the test ends.

use std::fs;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use portreeve_scan::ServiceInfo;
use portreeve_scan::service::{ServiceOptions, identify, identify_all};
use portreeve_testkit::{Netns, run, stdout};

const SERVER: &str = "10.71.0.1";
const SERVER2: &str = "10.71.1.1";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("portreeve-service-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create scratch directory");
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, text).expect("write scratch file");
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A server process inside the server namespace, killed when dropped.
struct Server {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Server {
    fn start(ns: &Netns, dir: &Scratch, name: &str, program: &str, args: &[&str]) -> Server {
        let log = dir.path(&format!("{name}.log"));
        let out = fs::File::create(&log).expect("server log");
        let err = out.try_clone().expect("server log");
        let child = ns
            .exec(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Server {
            name: name.into(),
            child,
            log,
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server namespace (holding `SERVER` and `SERVER2`) and the client's.
fn namespaces() -> (Netns, Netns) {
    let server = Netns::bare();
    let client = Netns::bare();
    server.link(&client, "10.71.0.1/24", "10.71.0.2/24");
    server.link(&client, "10.71.1.1/24", "10.71.1.2/24");
    (server, client)
}

/// Waits until every target accepts connections (from the client
/// namespace), or fails with the servers' logs.
fn wait_ready(client: &Netns, targets: &[(IpAddr, u16)], servers: &mut [Server]) {
    let pending = client.run(|| {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut pending: Vec<(IpAddr, u16)> = targets.to_vec();
        while !pending.is_empty() && Instant::now() < deadline {
            pending.retain(|&(a, p)| {
                TcpStream::connect_timeout(&SocketAddr::new(a, p), Duration::from_millis(200))
                    .is_err()
            });
            std::thread::sleep(Duration::from_millis(50));
        }
        pending
    });
    if !pending.is_empty() {
        let mut report = format!("servers not ready on {pending:?}\n");
        for s in servers.iter_mut() {
            let status = s.child.try_wait().ok().flatten();
            report.push_str(&format!(
                "--- {} (exited: {status:?})\n{}\n",
                s.name,
                s.log()
            ));
        }
        panic!("{report}");
    }
}

/// Identifies every target from the client namespace, all at once.
fn identify_from(client: &Netns, targets: &[(IpAddr, u16)]) -> Vec<Option<ServiceInfo>> {
    let opts = ServiceOptions {
        timeout: Duration::from_secs(1),
        workers: targets.len(),
    };
    client.run(|| identify_all(targets, &opts))
}

fn get<'a>(
    results: &'a [(IpAddr, u16, Option<ServiceInfo>)],
    addr: &str,
    port: u16,
) -> &'a ServiceInfo {
    results
        .iter()
        .find(|(a, p, _)| *a == ip(addr) && *p == port)
        .and_then(|(_, _, s)| s.as_ref())
        .unwrap_or_else(|| panic!("{addr}:{port} was not identified: {results:#?}"))
}

/// The first whitespace-separated word after `marker` in `text`.
fn word_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let at = text.find(marker)? + marker.len();
    text[at..].split_whitespace().next()
}

/// nginx serving a page on plain HTTP (80, and 18080 where nothing is
/// expected) and over TLS: with TLS 1.3 and HTTP/2 on 443, with nginx's
/// default protocols (TLS 1.2 before nginx 1.23.4) and HTTP/1.1 on 18443.
fn nginx_config(dir: &Scratch) -> String {
    let d = dir.0.display();
    let page = "<html><head><title>portreeve test page</title></head><body>hi</body></html>";
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log stderr;\nevents {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         server {{\n    listen {SERVER}:80;\n    listen {SERVER}:18080;\n\
         location / {{ default_type text/html; return 200 '{page}'; }}\n  }}\n\
         server {{\n    listen {SERVER}:443 ssl http2;\n    ssl_protocols TLSv1.2 TLSv1.3;\n\
         ssl_certificate {d}/cert.pem;\n    ssl_certificate_key {d}/key.pem;\n\
         location / {{ default_type text/html; return 200 '{page}'; }}\n  }}\n\
         server {{\n    listen {SERVER}:18443 ssl;\n\
         ssl_certificate {d}/cert.pem;\n    ssl_certificate_key {d}/key.pem;\n\
         location / {{ default_type text/html; return 200 '{page}'; }}\n  }}\n}}\n"
    )
}

#[test]
fn real_servers_are_identified() {
    if !portreeve_testkit::privileged("real_servers_are_identified", &["ip", "nginx", "openssl"]) {
        return;
    }
    let with_redis =
        portreeve_testkit::privileged("real_servers_are_identified (Redis)", &["redis-server"]);
    let with_memcached =
        portreeve_testkit::privileged("real_servers_are_identified (Memcached)", &["memcached"]);
    let with_sshd = portreeve_testkit::privileged(
        "real_servers_are_identified (OpenSSH)",
        &["sshd", "ssh-keygen"],
    );

    let dir = Scratch::new("real");
    let openssl = run(std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=portreeve-test",
            "-days",
            "2",
        ])
        .arg("-keyout")
        .arg(dir.path("key.pem"))
        .arg("-out")
        .arg(dir.path("cert.pem")));
    assert!(
        openssl.status.success(),
        "openssl: {}",
        portreeve_testkit::stderr(&openssl)
    );
    let conf = dir.write("nginx.conf", &nginx_config(&dir));

    let (server, client) = namespaces();
    let d = dir.0.to_str().expect("UTF-8 temp dir").to_string();
    let mut servers = vec![Server::start(
        &server,
        &dir,
        "nginx",
        "nginx",
        &["-e", "stderr", "-p", &d, "-c", conf.to_str().unwrap()],
    )];
    let mut targets = vec![
        (ip(SERVER), 80),
        (ip(SERVER), 443),
        (ip(SERVER), 18080),
        (ip(SERVER), 18443),
    ];
    if with_redis {
        let common = [
            "--port",
            "6379",
            "--protected-mode",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            &d,
            "--logfile",
            "",
        ];
        let mut open = vec!["--bind", SERVER];
        open.extend(common);
        let mut locked = vec!["--bind", SERVER2, "--requirepass", "portreeve-secret"];
        locked.extend(common);
        servers.push(Server::start(&server, &dir, "redis", "redis-server", &open));
        servers.push(Server::start(
            &server,
            &dir,
            "redis-auth",
            "redis-server",
            &locked,
        ));
        targets.extend([(ip(SERVER), 6379), (ip(SERVER2), 6379)]);
    }
    if with_memcached {
        servers.push(Server::start(
            &server,
            &dir,
            "memcached",
            "memcached",
            &["-l", SERVER, "-p", "11211", "-U", "0", "-u", "nobody"],
        ));
        targets.push((ip(SERVER), 11211));
    }
    if with_sshd {
        let key = dir.path("ssh_host_ed25519_key");
        let keygen = run(std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key));
        assert!(
            keygen.status.success(),
            "ssh-keygen: {}",
            portreeve_testkit::stderr(&keygen)
        );
        let config = dir.write(
            "sshd_config",
            &format!(
                "ListenAddress {SERVER}:22\nHostKey {}\nPidFile none\nUsePAM no\n",
                key.display()
            ),
        );
        // sshd wants /run/sshd; `ip netns exec` gives the server its own
        // mount namespace, so a tmpfs there leaves the host's /run alone.
        let script = format!(
            "mount -t tmpfs portreeve-sshd /run && mkdir -m 755 /run/sshd && \
             exec /usr/sbin/sshd -D -e -f {}",
            config.display()
        );
        servers.push(Server::start(&server, &dir, "sshd", "sh", &["-c", &script]));
        targets.push((ip(SERVER), 22));
    }
    wait_ready(&client, &targets, &mut servers);
    // A port nothing listens on.
    targets.push((ip(SERVER), 1));

    let started = Instant::now();
    let found = identify_from(&client, &targets);
    let elapsed = started.elapsed();
    let results: Vec<_> = targets
        .iter()
        .zip(found)
        .map(|(&(a, p), s)| (a, p, s))
        .collect();
    eprintln!("identified in {elapsed:?}: {results:#?}");

    let nginx_v = portreeve_testkit::stderr(&run(std::process::Command::new("nginx").arg("-v")));
    let nginx_version = word_after(&nginx_v, "nginx/").expect("nginx -v");
    for port in [80, 18080] {
        let http = get(&results, SERVER, port);
        assert_eq!(http.name, "http", "{http:?}");
        assert_eq!(http.product.as_deref(), Some("nginx"));
        assert_eq!(http.version.as_deref(), Some(nginx_version));
        assert_eq!(http.extra.as_deref(), Some("portreeve test page"));
        assert_eq!(
            http.cpe.as_deref(),
            Some(format!("cpe:2.3:a:f5:nginx:{nginx_version}:*:*:*:*:*:*:*").as_str())
        );
        assert_eq!(http.method, "probe:http");
        assert_eq!(http.tls, None);
    }
    for port in [443, 18443] {
        let https = get(&results, SERVER, port);
        assert_eq!(https.name, "https", "{https:?}");
        assert_eq!(https.product.as_deref(), Some("nginx"));
        assert_eq!(https.version.as_deref(), Some(nginx_version));
        assert_eq!(https.extra.as_deref(), Some("portreeve test page"));
        assert_eq!(https.method, "probe:tls");
        let tls = https.tls.as_ref().expect("TLS details");
        if port == 443 {
            assert_eq!(tls.version, "TLSv1.3");
            assert_eq!(tls.alpn.as_deref(), Some("h2"));
        } else {
            assert!(
                ["TLSv1.2", "TLSv1.3"].contains(&tls.version.as_str()),
                "{tls:?}"
            );
            assert_eq!(tls.alpn.as_deref(), Some("http/1.1"));
        }
        assert_eq!(tls.subject.as_deref(), Some("CN=portreeve-test"));
        assert_eq!(tls.issuer.as_deref(), Some("CN=portreeve-test"));
        let expires: jiff::Timestamp = tls.not_after.as_deref().expect("expiry").parse().unwrap();
        let left = expires.duration_since(jiff::Timestamp::now());
        assert!(
            left > jiff::SignedDuration::from_hours(40)
                && left < jiff::SignedDuration::from_hours(49),
            "certificate made for 2 days expires in {left:?}"
        );
    }
    if with_redis {
        let out = stdout(&run(
            std::process::Command::new("redis-server").arg("--version")
        ));
        let version = word_after(&out, "v=");
        let open = get(&results, SERVER, 6379);
        assert_eq!(open.name, "redis");
        assert_eq!(open.unauthenticated, Some(true));
        assert_eq!(open.version.as_deref(), version);
        assert_eq!(open.method, "probe:redis");
        assert!(
            open.cpe
                .as_deref()
                .unwrap()
                .starts_with("cpe:2.3:a:redis:redis:7."),
            "{open:?}"
        );
        let locked = get(&results, SERVER2, 6379);
        assert_eq!(locked.name, "redis");
        assert_eq!(locked.unauthenticated, Some(false));
        assert_eq!(locked.version, None);
    }
    if with_memcached {
        let out = stdout(&run(std::process::Command::new("memcached").arg("-V")));
        let mc = get(&results, SERVER, 11211);
        assert_eq!(mc.name, "memcache");
        assert_eq!(mc.product.as_deref(), Some("Memcached"));
        assert_eq!(mc.version.as_deref(), word_after(&out, "memcached "));
        assert_eq!(mc.unauthenticated, Some(true));
    }
    if with_sshd {
        let v = run(std::process::Command::new("/usr/sbin/sshd").arg("-V"));
        let text = portreeve_testkit::stderr(&v) + &stdout(&v);
        let number = text
            .split("OpenSSH_")
            .nth(1)
            .and_then(|s| s.split([',', ' ']).next())
            .unwrap();
        let ssh = get(&results, SERVER, 22);
        assert_eq!(ssh.name, "ssh");
        assert_eq!(ssh.product.as_deref(), Some("OpenSSH"));
        assert!(
            ssh.version.as_deref().unwrap().starts_with(number),
            "{ssh:?} vs {number}"
        );
        assert!(
            ssh.cpe
                .as_deref()
                .unwrap()
                .starts_with("cpe:2.3:a:openbsd:openssh:")
        );
        assert_eq!(ssh.method, "banner");
    }
    let closed = results.iter().find(|(_, p, _)| *p == 1).unwrap();
    assert_eq!(closed.2, None, "nothing listens on port 1");
    // The direct call agrees with the pooled one.
    let again = client.run(|| identify(ip(SERVER), 80, &ServiceOptions::default()));
    assert_eq!(again.as_ref(), Some(get(&results, SERVER, 80)));
    drop(servers);
}

#[test]
fn fake_servers_are_identified() {
    if !portreeve_testkit::privileged("fake_servers_are_identified", &["ip", "python3"]) {
        return;
    }
    let dir = Scratch::new("fake");
    let script = dir.write("fake_servers.py", FAKE_SERVERS);
    let (server, client) = namespaces();
    let mut fake = Server::start(
        &server,
        &dir,
        "fake-servers",
        "python3",
        &[script.to_str().unwrap(), SERVER],
    );
    // The script says "ready" once every port is bound.
    let ready = {
        let log = fake.log.clone();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = fs::read_to_string(&log).unwrap_or_default();
            if text.contains("ready")
                || Instant::now() > deadline
                || fake.child.try_wait().ok().flatten().is_some()
            {
                break text.contains("ready");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert!(ready, "fake servers did not start:\n{}", fake.log());
    let ports: [u16; 19] = [
        21, 25, 2525, 110, 143, 3306, 3307, 5432, 5433, 27017, 9092, 2181, 3389, 5900, 2375, 2379,
        9200, 9201, 37017,
    ];
    let targets: Vec<(IpAddr, u16)> = ports.iter().map(|&p| (ip(SERVER), p)).collect();
    let mut servers = vec![fake];
    wait_ready(&client, &targets, &mut servers);

    let started = Instant::now();
    let found = identify_from(&client, &targets);
    let elapsed = started.elapsed();
    let results: Vec<_> = targets
        .iter()
        .zip(found)
        .map(|(&(a, p), s)| (a, p, s))
        .collect();
    eprintln!("identified in {elapsed:?}: {results:#?}");
    let at = |port| get(&results, SERVER, port);
    let summary = |port| {
        let s = at(port);
        (
            s.name.as_str(),
            s.product.as_deref(),
            s.version.as_deref(),
            s.method.as_str(),
        )
    };

    assert_eq!(
        summary(21),
        ("ftp", Some("vsftpd"), Some("3.0.3"), "banner")
    );
    assert_eq!(summary(25), ("smtp", Some("Postfix smtpd"), None, "banner"));
    assert_eq!(at(25).extra.as_deref(), Some("mail.portreeve.test"));
    // A bare 220 on a port of no particular service: EHLO tells it is SMTP.
    assert_eq!(summary(2525), ("smtp", None, None, "banner"));
    assert_eq!(
        summary(110),
        ("pop3", Some("Dovecot pop3d"), None, "banner")
    );
    assert_eq!(
        summary(143),
        ("imap", Some("Dovecot imapd"), None, "banner")
    );

    assert_eq!(
        summary(3306),
        ("mysql", Some("MySQL"), Some("8.0.36"), "banner")
    );
    assert_eq!(
        at(3306).cpe.as_deref(),
        Some("cpe:2.3:a:oracle:mysql:8.0.36:*:*:*:*:*:*:*")
    );
    assert_eq!(
        summary(3307),
        ("mysql", Some("MariaDB"), Some("10.11.6"), "banner")
    );

    assert_eq!(
        summary(5432),
        (
            "postgresql",
            Some("PostgreSQL"),
            Some("16.2"),
            "probe:postgresql"
        )
    );
    assert_eq!(at(5432).unauthenticated, Some(true));
    let scram = at(5433);
    assert_eq!(
        (scram.name.as_str(), scram.unauthenticated),
        ("postgresql", Some(false))
    );
    assert_eq!(
        scram.extra.as_deref(),
        Some("auth SCRAM-SHA-256; SSL supported")
    );

    assert_eq!(
        summary(27017),
        ("mongodb", Some("MongoDB"), Some("7.0.5"), "probe:mongodb")
    );
    assert_eq!(at(27017).unauthenticated, Some(true));
    assert_eq!(at(27017).extra.as_deref(), Some("wire version 21"));
    // On a port of no particular service: found after the other probes
    // (HTTP, TLS, Redis, …) were refused.
    assert_eq!(
        summary(37017),
        ("mongodb", Some("MongoDB"), Some("7.0.5"), "probe:mongodb")
    );

    assert_eq!(
        summary(9092),
        ("kafka", Some("Apache Kafka"), None, "probe:kafka")
    );
    assert_eq!(
        summary(2181),
        (
            "zookeeper",
            Some("Apache ZooKeeper"),
            Some("3.8.4"),
            "probe:zookeeper"
        )
    );
    assert_eq!(at(2181).unauthenticated, Some(true));

    assert_eq!(summary(3389), ("ms-wbt-server", None, None, "probe:rdp"));
    assert_eq!(at(3389).extra.as_deref(), Some("security: CredSSP (NLA)"));
    assert_eq!(summary(5900), ("vnc", Some("VNC"), Some("3.8"), "banner"));
    assert_eq!(at(5900).unauthenticated, Some(true));
    assert_eq!(
        at(5900).extra.as_deref(),
        Some("security: None, VNC Authentication")
    );

    assert_eq!(
        summary(2375),
        ("docker", Some("Docker"), Some("24.0.7"), "probe:http")
    );
    assert_eq!(at(2375).unauthenticated, Some(true));
    assert_eq!(at(2375).extra.as_deref(), Some("API 1.43, linux/amd64"));
    assert_eq!(
        summary(2379),
        ("etcd-client", Some("etcd"), Some("3.5.12"), "probe:http")
    );
    assert_eq!(at(2379).unauthenticated, Some(true));
    assert_eq!(
        summary(9200),
        ("http", Some("Elasticsearch"), Some("8.11.1"), "probe:http")
    );
    assert_eq!(at(9200).unauthenticated, Some(true));
    assert_eq!(at(9200).extra.as_deref(), Some("cluster portreeve-logs"));
    assert_eq!(
        summary(9201),
        ("http", Some("Elasticsearch"), None, "probe:http")
    );
    assert_eq!(at(9201).unauthenticated, Some(false));

    assert!(
        elapsed < Duration::from_secs(20),
        "identification took {elapsed:?}"
    );
    drop(servers);
}

/// Fake servers, one thread per port, each speaking just enough of its
/// protocol for identification. Binds only the address given; exits when
/// its standard input closes.
const FAKE_SERVERS: &str = r##"
"""Fake servers for portreeve's service-identification test: one thread per
port, each speaking just enough of its protocol. Binds only the address given
on the command line; exits when stdin closes."""
import json
import os
import socket
import struct
import sys
import threading

ADDR = sys.argv[1]


def recv_exact(c, n):
    data = b""
    while len(data) < n:
        chunk = c.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def recv_line(c):
    data = b""
    while not data.endswith(b"\n"):
        chunk = c.recv(1)
        if not chunk:
            raise EOFError
        data += chunk
    return data


# --- text greetings ---------------------------------------------------------

def line_server(greeting, replies):
    def handle(c):
        c.sendall(greeting)
        while True:
            line = recv_line(c).strip().upper()
            for prefix, answer in replies:
                if line.startswith(prefix):
                    c.sendall(answer)
                    break
            else:
                c.sendall(replies[-1][1])
    return handle


FTP = line_server(b"220 (vsFTPd 3.0.3)\r\n", [(b"", b"530 Please login with USER and PASS.\r\n")])
SMTP = line_server(
    b"220 mail.portreeve.test ESMTP Postfix (Debian/GNU)\r\n",
    [(b"EHLO", b"250-mail.portreeve.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"),
     (b"", b"502 5.5.2 Error: command not recognized\r\n")])
SMTP_BARE = line_server(
    b"220 relay.portreeve.test ready\r\n",
    [(b"EHLO", b"250-relay.portreeve.test\r\n250 SIZE 10240000\r\n"),
     (b"", b"502 command not recognized\r\n")])
POP3 = line_server(b"+OK Dovecot (Debian) ready.\r\n", [(b"", b"-ERR Unknown command.\r\n")])
IMAP = line_server(
    b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ "
    b"STARTTLS AUTH=PLAIN] Dovecot (Debian) ready.\r\n",
    [(b"", b"* BAD Error in IMAP command received by server.\r\n")])


# --- MySQL / MariaDB --------------------------------------------------------

def mysql_server(version):
    def handle(c):
        p = b"\x0a" + version + b"\x00" + struct.pack("<I", 7) + b"12345678\x00"
        p += struct.pack("<H", 0xffff) + b"\xff" + struct.pack("<H", 2) + struct.pack("<H", 0xdfff)
        p += bytes([21]) + b"\x00" * 10 + b"abcdefghijkl\x00" + b"caching_sha2_password\x00"
        c.sendall(struct.pack("<I", len(p))[:3] + b"\x00" + p)
        c.recv(4096)
    return handle


# --- PostgreSQL -------------------------------------------------------------

def pg_msg(kind, body):
    return kind + struct.pack(">I", len(body) + 4) + body


def postgres_server(trust):
    def handle(c):
        while True:
            (length,) = struct.unpack(">I", recv_exact(c, 4))
            body = recv_exact(c, length - 4)
            (code,) = struct.unpack(">I", body[:4])
            if code == 80877103:  # SSLRequest
                if trust:
                    c.sendall(b"N")
                    continue
                c.sendall(b"S")
                return  # a real server would start TLS now
            if code == 196608:
                if trust:
                    out = pg_msg(b"R", struct.pack(">I", 0))
                    out += pg_msg(b"S", b"server_version\x0016.2 (Debian 16.2-1.pgdg120+2)\x00")
                    out += pg_msg(b"S", b"server_encoding\x00UTF8\x00")
                    out += pg_msg(b"K", struct.pack(">II", 1, 2))
                    out += pg_msg(b"Z", b"I")
                else:
                    out = pg_msg(b"R", struct.pack(">I", 10) + b"SCRAM-SHA-256\x00\x00")
                c.sendall(out)
                c.recv(4096)
                return
    return handle


# --- MongoDB ----------------------------------------------------------------

def bson(doc):
    out = b""
    for k, v in doc:
        key = k.encode() + b"\x00"
        if isinstance(v, bool):
            out += b"\x08" + key + (b"\x01" if v else b"\x00")
        elif isinstance(v, int):
            out += b"\x10" + key + struct.pack("<i", v)
        elif isinstance(v, float):
            out += b"\x01" + key + struct.pack("<d", v)
        elif isinstance(v, str):
            s = v.encode() + b"\x00"
            out += b"\x02" + key + struct.pack("<i", len(s)) + s
        elif isinstance(v, list) and v and isinstance(v[0], list):
            out += b"\x04" + key + bson([(str(i), x) for i, x in enumerate(v)])
        elif isinstance(v, list):
            out += b"\x03" + key + bson(v)
    return struct.pack("<i", len(out) + 5) + out + b"\x00"


def first_key(doc_bytes):
    end = doc_bytes.index(b"\x00", 5)
    return doc_bytes[5:end].decode()


def mongo(c):
    while True:
        header = recv_exact(c, 16)
        length, request_id, _, opcode = struct.unpack("<iiii", header)
        # Like mongod, hang up on a header that is not a MongoDB message.
        if not 16 < length <= 48000000 or opcode not in (2004, 2013):
            return
        body = recv_exact(c, length - 16)
        if opcode != 2013:
            return
        command = first_key(body[5:])
        if command in ("hello", "isMaster", "ismaster"):
            doc = [("isWritablePrimary", True), ("maxBsonObjectSize", 16777216),
                   ("minWireVersion", 0), ("maxWireVersion", 21), ("ok", 1.0)]
        elif command == "buildInfo":
            doc = [("version", "7.0.5"), ("gitVersion", "7809d71e84e314b497f282ea8aa06d7ded3eb205"),
                   ("ok", 1.0)]
        elif command == "listDatabases":
            doc = [("databases", [[("name", "admin"), ("sizeOnDisk", 40960)]]), ("ok", 1.0)]
        else:
            doc = [("ok", 0.0), ("errmsg", "no such command"), ("code", 59)]
        reply = struct.pack("<I", 0) + b"\x00" + bson(doc)
        c.sendall(struct.pack("<iiii", 16 + len(reply), 1000 + request_id, request_id, 2013) + reply)


# --- Kafka ------------------------------------------------------------------

def kafka(c):
    (size,) = struct.unpack(">i", recv_exact(c, 4))
    req = recv_exact(c, size)
    api_key, api_version, correlation = struct.unpack(">hhi", req[:8])
    if api_key != 18:
        return
    apis = [(0, 0, 9), (1, 0, 13), (3, 0, 12), (18, 0, 3), (19, 0, 7)]
    body = struct.pack(">ihi", correlation, 0, len(apis))
    for a in apis:
        body += struct.pack(">hhh", *a)
    c.sendall(struct.pack(">i", len(body)) + body)
    c.recv(4096)


# --- ZooKeeper --------------------------------------------------------------

def zookeeper(c):
    word = recv_exact(c, 4)
    if word == b"srvr":
        c.sendall(b"Zookeeper version: 3.8.4-9316c2a7a97e1666d8f4593f34dd6fc36ecc436c, built on "
                  b"2024-02-12 22:16 UTC\nLatency min/avg/max: 0/0.0/0\nReceived: 3\nSent: 2\n"
                  b"Connections: 1\nOutstanding: 0\nZxid: 0x0\nMode: standalone\nNode count: 5\n")
    elif word == b"ruok":
        c.sendall(b"imok")


# --- RDP and VNC ------------------------------------------------------------

def rdp(c):
    req = recv_exact(c, 4)
    (length,) = struct.unpack(">H", req[2:4])
    recv_exact(c, length - 4)
    c.sendall(b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00"
              b"\x02\x1f\x08\x00" + struct.pack("<I", 2))
    c.recv(4096)


def vnc(c):
    c.sendall(b"RFB 003.008\n")
    recv_exact(c, 12)
    c.sendall(b"\x02\x01\x02")
    if recv_exact(c, 1) == b"\x01":
        c.sendall(struct.pack(">I", 0))
    c.recv(4096)


# --- HTTP APIs --------------------------------------------------------------

def http_server(routes):
    def handle(c):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = c.recv(4096)
            if not chunk:
                return
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        length = 0
        for h in lines[1:]:
            name, _, value = h.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        while len(body) < length:
            body += c.recv(4096)
        status, headers, payload = routes.get((method, path)) or routes.get("*")
        if not isinstance(payload, bytes):
            payload = json.dumps(payload).encode()
        out = "HTTP/1.1 %s\r\n" % status
        for k, v in headers:
            out += "%s: %s\r\n" % (k, v)
        out += "Content-Length: %d\r\nConnection: close\r\n\r\n" % len(payload)
        c.sendall(out.encode() + payload)
    return handle


JSON = ("Content-Type", "application/json")
DOCKER_HEADERS = [JSON, ("Api-Version", "1.43"), ("Docker-Experimental", "false"),
                  ("Ostype", "linux"), ("Server", "Docker/24.0.7 (linux)")]
DOCKER = http_server({
    ("GET", "/version"): ("200 OK", DOCKER_HEADERS, {
        "Platform": {"Name": "Docker Engine - Community"}, "Version": "24.0.7",
        "ApiVersion": "1.43", "MinAPIVersion": "1.12", "GitCommit": "311b9ff",
        "GoVersion": "go1.20.10", "Os": "linux", "Arch": "amd64"}),
    "*": ("404 Not Found", DOCKER_HEADERS, {"message": "page not found"}),
})
ETCD = http_server({
    ("GET", "/version"): ("200 OK", [JSON], {"etcdserver": "3.5.12", "etcdcluster": "3.5.0"}),
    ("POST", "/v3/kv/range"): ("200 OK", [JSON], {"header": {
        "cluster_id": "14841639068965178418", "member_id": "10276657743932975437",
        "revision": "1", "raft_term": "2"}}),
    "*": ("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")], b"404 page not found\n"),
})
ES_HEADERS = [JSON, ("X-elastic-product", "Elasticsearch")]
ELASTIC = http_server({
    ("GET", "/"): ("200 OK", ES_HEADERS, {
        "name": "node-1", "cluster_name": "portreeve-logs", "cluster_uuid": "x1",
        "version": {"number": "8.11.1", "build_flavor": "default", "build_type": "deb",
                    "lucene_version": "9.8.0"},
        "tagline": "You Know, for Search"}),
    "*": ("404 Not Found", ES_HEADERS, {"error": "no handler"}),
})
ELASTIC_SECURED = http_server({
    "*": ("401 Unauthorized", ES_HEADERS + [
        ("WWW-Authenticate", 'Basic realm="security" charset="UTF-8"')], {
        "error": {"root_cause": [{"type": "security_exception",
                                  "reason": "missing authentication credentials for REST request [/]"}],
                  "type": "security_exception"}, "status": 401}),
})

SERVERS = {
    21: FTP, 25: SMTP, 2525: SMTP_BARE, 110: POP3, 143: IMAP,
    3306: mysql_server(b"8.0.36-0ubuntu0.22.04.1"),
    3307: mysql_server(b"5.5.5-10.11.6-MariaDB-0+deb12u1"),
    5432: postgres_server(True), 5433: postgres_server(False),
    27017: mongo, 37017: mongo, 9092: kafka, 2181: zookeeper, 3389: rdp, 5900: vnc,
    2375: DOCKER, 2379: ETCD, 9200: ELASTIC, 9201: ELASTIC_SECURED,
}


def serve(listener, handler):
    while True:
        c, _ = listener.accept()

        def run(c=c):
            c.settimeout(5)
            try:
                handler(c)
            except (EOFError, OSError, ValueError, struct.error):
                pass
            finally:
                c.close()
        threading.Thread(target=run, daemon=True).start()


for port, handler in SERVERS.items():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ADDR, port))
    s.listen(16)
    threading.Thread(target=serve, args=(s, handler), daemon=True).start()

print("ready", flush=True)
sys.stdin.read()
os._exit(0)
"##;
