//! ASN and country from MaxMind-format databases the tests write.

mod support;

use std::net::IpAddr;

use portreeve_trace::{GeoDatabases, GeoInfo};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn info(asn: Option<u32>, as_org: Option<&str>, country: Option<&str>) -> GeoInfo {
    GeoInfo {
        asn,
        as_org: as_org.map(str::to_owned),
        country: country.map(str::to_owned),
    }
}

#[test]
fn asn_and_country_come_from_asn_and_city_databases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dbs = GeoDatabases::open(&[support::asn_db(dir.path()), support::city_db(dir.path())])
        .expect("open databases");

    let (found, errors) = dbs.lookup(ip("192.0.2.77"));
    assert_eq!(
        found,
        info(Some(64500), Some("Example Transit"), Some("NL"))
    );
    assert!(errors.is_empty(), "{errors:?}");

    let (found, errors) = dbs.lookup(ip("2001:db8::5"));
    assert_eq!(found, info(Some(64501), None, Some("DE")));
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn registered_country_stands_in_when_a_record_has_no_country() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dbs = GeoDatabases::open(&[support::city_db(dir.path())]).expect("open");
    assert_eq!(
        dbs.lookup(ip("198.51.100.20")).0,
        info(None, None, Some("SE"))
    );
}

#[test]
fn addresses_outside_every_database_get_nothing_and_no_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dbs = GeoDatabases::open(&[
        support::asn_db(dir.path()),
        support::city_db(dir.path()),
        support::country_v4_db(dir.path()),
    ])
    .expect("open");
    for addr in ["203.0.114.1", "2001:db9::1"] {
        let (found, errors) = dbs.lookup(ip(addr));
        assert_eq!(found, GeoInfo::default(), "{addr}");
        assert!(errors.is_empty(), "{addr}: {errors:?}");
    }
    // The IPv4-only Country database answers for IPv4 only.
    assert_eq!(
        dbs.lookup(ip("203.0.113.9")).0,
        info(None, None, Some("JP"))
    );
}

#[test]
fn a_file_that_is_not_a_maxmind_database_is_refused_in_words() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bogus = dir.path().join("bogus.mmdb");
    std::fs::write(&bogus, "this is not a MaxMind database\n").expect("write");
    let missing = dir.path().join("missing.mmdb");
    for (path, why) in [(bogus, "metadata"), (missing, "No such file or directory")] {
        let message = GeoDatabases::open(std::slice::from_ref(&path))
            .expect_err("must be refused")
            .to_string();
        let prefix = format!("cannot read the MaxMind database {}: ", path.display());
        assert!(message.starts_with(&prefix), "{message}");
        assert!(message.contains(why), "{message}");
        assert!(
            !message.contains('{') && !message.contains("Error("),
            "debug text in {message}"
        );
    }
}
