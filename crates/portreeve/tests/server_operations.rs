//! Running the fleet server: its configuration file (`--config`, flags
//! over the file, mistakes located and exit 2) and its `/metrics`, which
//! counts requests, pushes and hosts and passes `promtool check metrics`.

mod support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use support::fleet_server::{RunningServer, SigningHost, create_token, on_each_database};
use support::{Home, Netns, sample, stderr, stdout, testkit};

/// Where the configuration file of the metrics test serves `/metrics`.
const METRICS: &str = "127.0.0.1:9477";

/// `GET /metrics` from the server's metrics listener in `ns`: the reply's
/// head and body.
fn scrape(ns: &Netns) -> (String, String) {
    ns.run(|| {
        let mut s =
            TcpStream::connect_timeout(&METRICS.parse().unwrap(), Duration::from_secs(5)).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: server\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        let (head, body) = reply.split_once("\r\n\r\n").expect("an HTTP reply");
        (head.to_owned(), body.to_owned())
    })
}

/// The series docs/server.md's metrics table (under Operations) lists.
fn documented_series() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/server.md"))
        .unwrap();
    let section = doc.split("### Metrics").nth(1).expect("a Metrics section");
    let section = section.split("\n### ").next().unwrap();
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_servers_metrics_count_requests_pushes_and_hosts_and_promtool_accepts_them() {
    let test = "the_servers_metrics_count_requests_pushes_and_hosts_and_promtool_accepts_them";
    if !testkit::require_programs(test, &["promtool"]) {
        return;
    }
    on_each_database(test, |home, db| {
        // The file names where metrics go; --listen on the command line
        // wins over the file's listen.
        let config = home.file(
            "server.toml",
            format!("listen = \"127.0.0.1:1\"\nmetrics = \"{METRICS}\"\n"),
        );
        let config = config.to_str().unwrap();
        let enroll = create_token(home, db, &["--role", "enroll", "--uses", "2"]);
        let server = RunningServer::start_with(
            home,
            db,
            Netns::bare(),
            "127.0.0.1:0",
            &["--config", config],
        );
        let web = SigningHost::enroll(&server, &enroll, "web-1", 1);
        let db_host = SigningHost::enroll(&server, &enroll, "db-1", 2);
        assert_eq!(web.push(&server, &web.empty_push(1)).0, 200);
        assert_eq!(web.push(&server, &web.empty_push(1)).0, 200); // a duplicate
        // db-1 pushes for web-1: invalid. Revoked, db-1 is refused.
        assert_eq!(db_host.push(&server, &web.empty_push(2)).0, 400);
        let revoke = home.run(
            &[
                &["server", "host", "revoke", "db-1"][..],
                &db.args().iter().map(String::as_str).collect::<Vec<_>>(),
            ]
            .concat(),
        );
        assert!(revoke.status.success(), "{}", stderr(&revoke));
        assert_eq!(db_host.push(&server, &db_host.empty_push(1)).0, 401);
        assert_eq!(server.get("/api/v1/hosts", None).0, 401);

        let (head, body) = scrape(server.netns());
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
            "{head}"
        );
        for (series, value) in [
            ("portreeve_server_pushes_total{result=\"accepted\"}", 1.0),
            ("portreeve_server_pushes_total{result=\"duplicate\"}", 1.0),
            (
                "portreeve_server_pushes_refused_total{reason=\"unauthenticated\"}",
                1.0,
            ),
            (
                "portreeve_server_pushes_refused_total{reason=\"invalid\"}",
                1.0,
            ),
            (
                "portreeve_server_pushes_refused_total{reason=\"too_large\"}",
                0.0,
            ),
            ("portreeve_server_hosts{state=\"enrolled\"}", 1.0),
            ("portreeve_server_hosts{state=\"revoked\"}", 1.0),
            (
                "portreeve_server_requests_total{route=\"/api/v1/enroll\",status=\"2xx\"}",
                2.0,
            ),
            (
                "portreeve_server_requests_total{route=\"/api/v1/push\",status=\"4xx\"}",
                2.0,
            ),
            (
                "portreeve_server_requests_total{route=\"/api/v1/hosts\",status=\"4xx\"}",
                1.0,
            ),
            (
                "portreeve_server_request_duration_seconds_count{route=\"/api/v1/push\"}",
                4.0,
            ),
            ("portreeve_server_database_errors_total", 0.0),
        ] {
            assert_eq!(sample(&body, series), Some(value), "{series} in\n{body}");
        }
        let exported: BTreeSet<&str> = body
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
            .collect();
        let documented = documented_series();
        assert_eq!(
            exported,
            documented.iter().map(String::as_str).collect(),
            "docs/server.md's metrics table"
        );
        let checked = testkit::run_with_input(
            Command::new("promtool").args(["check", "metrics"]),
            body.as_bytes(),
        );
        let complaints = format!("{}{}", stdout(&checked), stderr(&checked));
        assert!(
            checked.status.success() && complaints.trim().is_empty(),
            "promtool check metrics: {complaints}\n{body}"
        );
        server.stop();
    });
}

#[test]
fn a_mistake_in_the_servers_configuration_is_located_and_exits_2() {
    let home = Home::new();
    let config = home.file(
        "server.toml",
        "listen = \"127.0.0.1:0\"\nmetric = \"off\"\n",
    );
    let out = home.run(&["server", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let expected = format!("{}:2:1: unknown field `metric`", config.display());
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert!(!home.state().join("server.db").exists(), "nothing created");
}
