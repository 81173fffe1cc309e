//! The enricher: MaxMind databases and RDAP together within a budget, and
//! its configuration. Reverse DNS stays off here (it would ask the host's
//! resolver); tests/reverse_dns.rs covers it inside a namespace.

mod support;

use std::time::{Duration, Instant};

use portreeve_trace::{Enricher, TraceConfig};
use support::RdapServer;

fn config(toml_text: &str) -> TraceConfig {
    toml::from_str(toml_text).expect("parse trace configuration")
}

/// A configuration with the test's databases, `server` and `extra` keys.
fn enricher(dir: &std::path::Path, server: &RdapServer, extra: &str) -> Enricher {
    let text = format!(
        "mmdb = [{:?}, {:?}]\nreverse_dns = false\nrdap_base_url = {:?}\n{extra}",
        support::asn_db(dir),
        support::city_db(dir),
        server.base_url
    );
    Enricher::from_config(&config(&text)).expect("enricher")
}

#[test]
fn an_address_is_enriched_from_the_databases_and_rdap_and_serialises_to_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = RdapServer::start();
    let enrichment = enricher(dir.path(), &server, "").enrich("192.0.2.33".parse().unwrap());

    let json = serde_json::to_value(&enrichment).expect("serialise");
    assert_eq!(json["reverse_dns"], serde_json::Value::Null);
    assert_eq!(json["asn"], 64500);
    assert_eq!(json["as_org"], "Example Transit");
    assert_eq!(json["country"], "NL");
    assert_eq!(json["rdap"]["handle"], "NET-192-0-2-0-1");
    assert_eq!(json["rdap"]["cidrs"], serde_json::json!(["192.0.2.0/24"]));
    assert_eq!(json["rdap"]["abuse_email"], "abuse@example.net");
    assert_eq!(json["errors"], serde_json::json!([]));
}

#[test]
fn the_budget_bounds_the_wait_and_what_arrived_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = RdapServer::start();
    // RDAP would wait 10 s for the slow answer; the budget allows 300 ms.
    let enricher = enricher(
        dir.path(),
        &server,
        "rdap_timeout = \"10s\"\nbudget = \"300ms\"\n",
    );
    let start = Instant::now();
    let enrichment = enricher.enrich("203.0.113.8".parse().unwrap());
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(1000),
        "took {took:?}"
    );
    assert_eq!(enrichment.rdap, None);
    assert_eq!(
        enrichment.errors,
        vec!["RDAP lookup gave no answer within the enrichment budget of 300 ms"]
    );
    assert_eq!(server.requests(), vec!["/ip/203.0.113.8"]);
}

#[test]
fn failures_are_listed_in_words_next_to_what_was_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = RdapServer::start();
    let enrichment = enricher(dir.path(), &server, "").enrich("198.51.100.4".parse().unwrap());
    assert_eq!(enrichment.country.as_deref(), Some("SE"));
    assert_eq!(
        enrichment.errors,
        vec![format!(
            "the RDAP server has no network for this address ({}/ip/198.51.100.4 answered 404 Not Found)",
            server.base_url
        )]
    );
}

#[test]
fn defaults_apply_and_bad_settings_are_refused_in_words() {
    let defaults = config("");
    assert!(defaults.mmdb.is_empty() && defaults.rdap_base_url.is_none());
    assert!(defaults.reverse_dns);
    assert_eq!(defaults.budget, jiff::SignedDuration::from_secs(2));

    let parsed = config("reverse_dns_timeout = \"750ms\"\nrdap_cache_ttl = \"1h\"\n");
    assert_eq!(
        parsed.reverse_dns_timeout,
        jiff::SignedDuration::from_millis(750)
    );
    assert_eq!(parsed.rdap_cache_ttl, jiff::SignedDuration::from_hours(1));

    let unknown = toml::from_str::<TraceConfig>("rdap_url = \"http://127.0.0.1:1\"\n")
        .expect_err("unknown key");
    assert!(
        unknown.to_string().contains("unknown field `rdap_url`"),
        "{unknown}"
    );

    for (text, message) in [
        (
            "reverse_dns = false\nbudget = \"0s\"\n",
            "source tracing configuration: budget must be longer than zero",
        ),
        (
            "reverse_dns = false\nrdap_base_url = \"http://127.0.0.1:1\"\nrdap_timeout = \"-1s\"\n",
            "source tracing configuration: rdap_timeout must be longer than zero",
        ),
        (
            "reverse_dns = false\nmmdb = [\"/nonexistent/portreeve-test.mmdb\"]\n",
            "cannot read the MaxMind database /nonexistent/portreeve-test.mmdb: ",
        ),
    ] {
        let error = Enricher::from_config(&config(text)).expect_err(text);
        assert!(error.to_string().starts_with(message), "{error}");
    }
}

#[test]
fn an_ipv4_mapped_ipv6_address_is_traced_as_its_ipv4_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = RdapServer::start();
    let enrichment = enricher(dir.path(), &server, "").enrich("::ffff:192.0.2.33".parse().unwrap());
    assert_eq!(enrichment.asn, Some(64500));
    assert_eq!(enrichment.country.as_deref(), Some("NL"));
    assert_eq!(
        enrichment.rdap.map(|n| n.cidrs),
        Some(vec!["192.0.2.0/24".parse().unwrap()])
    );
    assert_eq!(server.requests(), vec!["/ip/192.0.2.33"]);
}
