//! RDAP network lookups against a local server the test starts.

mod support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use portreeve_trace::{RdapClient, TraceError};
use support::RdapServer;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn client(base_url: &str, total_timeout: Duration) -> RdapClient {
    RdapClient::new(
        base_url,
        Duration::from_millis(500),
        total_timeout,
        Duration::from_secs(3600),
    )
    .expect("client")
}

#[test]
fn a_network_object_is_read_and_its_range_answers_from_the_cache() {
    let server = RdapServer::start();
    let rdap = client(&server.base_url, Duration::from_secs(2));

    let network = rdap.lookup(ip("192.0.2.10")).expect("lookup");
    assert_eq!(network.handle.as_deref(), Some("NET-192-0-2-0-1"));
    assert_eq!(network.name.as_deref(), Some("TEST-NET-1"));
    assert_eq!(network.start_address, ip("192.0.2.0"));
    assert_eq!(network.end_address, ip("192.0.2.255"));
    assert_eq!(network.cidrs, vec!["192.0.2.0/24".parse().unwrap()]);
    assert_eq!(network.country.as_deref(), Some("NL"));
    assert_eq!(network.registrant_email.as_deref(), Some("noc@example.net"));
    // Published nested under the registrant, as some registries do.
    assert_eq!(network.abuse_email.as_deref(), Some("abuse@example.net"));
    assert_eq!(
        network.source_url,
        format!("{}/ip/192.0.2.0/24", server.base_url)
    );

    // Another address of the same network: answered without a request.
    let again = rdap.lookup(ip("192.0.2.200")).expect("cached lookup");
    assert_eq!(again, network);
    assert_eq!(server.requests(), vec!["/ip/192.0.2.10"]);
}

#[test]
fn ipv6_networks_are_read_and_the_asked_url_stands_in_for_a_missing_self_link() {
    let server = RdapServer::start();
    let rdap = client(&format!("{}/", server.base_url), Duration::from_secs(2));
    let network = rdap.lookup(ip("2001:db8::1")).expect("lookup");
    assert_eq!(network.cidrs, vec!["2001:db8::/32".parse().unwrap()]);
    assert_eq!(network.abuse_email.as_deref(), Some("abuse6@example.net"));
    assert_eq!(network.registrant_email, None);
    assert_eq!(
        network.source_url,
        format!("{}/ip/2001:db8::1", server.base_url)
    );
}

#[test]
fn an_unknown_address_is_a_404_in_words_and_is_asked_again_next_time() {
    let server = RdapServer::start();
    let rdap = client(&server.base_url, Duration::from_secs(2));
    for _ in 0..2 {
        let error = rdap.lookup(ip("198.51.100.7")).expect_err("404");
        assert_eq!(
            error.to_string(),
            format!(
                "the RDAP server has no network for this address ({}/ip/198.51.100.7 answered 404 Not Found)",
                server.base_url
            )
        );
    }
    assert_eq!(server.requests().len(), 2, "failures are not cached");
}

#[test]
fn a_slow_server_is_given_up_on_at_the_timeout() {
    let server = RdapServer::start();
    let rdap = client(&server.base_url, Duration::from_millis(400));
    let start = Instant::now();
    let error = rdap.lookup(ip("203.0.113.5")).expect_err("timeout");
    let took = start.elapsed();
    assert!(matches!(error, TraceError::RdapTimeout { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "the RDAP server did not answer within 400 ms ({}/ip/203.0.113.5)",
            server.base_url
        )
    );
    assert!(took < Duration::from_millis(1500), "took {took:?}");
}

#[test]
fn answers_that_are_not_a_network_holding_the_address_are_refused_and_not_cached() {
    let server = RdapServer::start();
    let rdap = client(&server.base_url, Duration::from_secs(2));
    let error = rdap.lookup(ip("198.51.100.66")).expect_err("entity");
    assert!(
        error
            .to_string()
            .ends_with("objectClassName is \"entity\", not \"ip network\""),
        "{error}"
    );
    let error = rdap.lookup(ip("198.51.100.99")).expect_err("wrong range");
    assert!(
        error
            .to_string()
            .ends_with("203.0.113.0 to 203.0.113.255 does not hold 198.51.100.99"),
        "{error}"
    );
    // The wrong range was not cached: 203.0.113.x is still asked (and slow).
    let short = client(&server.base_url, Duration::from_millis(200));
    let _ = short.lookup(ip("198.51.100.99"));
    assert!(matches!(
        short.lookup(ip("203.0.113.1")),
        Err(TraceError::RdapTimeout { .. })
    ));
}

#[test]
fn an_unreachable_server_is_reported_in_words() {
    let base = format!("http://127.0.0.1:{}", support::closed_port());
    let rdap = client(&base, Duration::from_secs(2));
    let error = rdap.lookup(ip("192.0.2.1")).expect_err("refused");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "the RDAP server could not be reached ({base}/ip/192.0.2.1): "
        )),
        "{message}"
    );
    assert!(message.contains("refused"), "{message}");
}

#[test]
fn a_base_url_that_is_not_http_is_a_configuration_error() {
    let error = RdapClient::new(
        "rdap.example.net",
        Duration::from_secs(1),
        Duration::from_secs(1),
        Duration::from_secs(1),
    )
    .expect_err("no scheme");
    assert_eq!(
        error.to_string(),
        "source tracing configuration: rdap_base_url \"rdap.example.net\" is not an http:// or https:// URL"
    );
}
