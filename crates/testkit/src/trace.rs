//! What tests of source tracing share: small MaxMind databases written
//! here, and a local RDAP server answering from records written here. Every
//! address is from the documentation ranges (RFC 5737, RFC 3849).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use mmdb_writer::{IpVersion, Value, Writer};

use crate::http::{Reply, Server};

/// How long the RDAP server takes to answer for 203.0.113.0/24.
pub const SLOW_ANSWER: Duration = Duration::from_secs(3);

fn net(cidr: &str) -> IpNet {
    cidr.parse().expect("test CIDR")
}

fn write_db(writer: &Writer, path: PathBuf) -> PathBuf {
    std::fs::write(&path, writer.to_bytes().expect("encode mmdb")).expect("write mmdb");
    path
}

/// A GeoLite2-ASN-shaped database: 192.0.2.0/24 is AS64500, 2001:db8::/32
/// AS64501 (without an organisation).
pub fn asn_db(dir: &Path) -> PathBuf {
    let mut w = Writer::new("GeoLite2-ASN");
    w.insert_value(
        net("192.0.2.0/24"),
        Value::map([
            ("autonomous_system_number", Value::from(64500_u32)),
            (
                "autonomous_system_organization",
                Value::from("Example Transit"),
            ),
        ]),
    )
    .expect("insert");
    w.insert_value(
        net("2001:db8::/32"),
        Value::map([("autonomous_system_number", Value::from(64501_u32))]),
    )
    .expect("insert");
    write_db(&w, dir.join("asn.mmdb"))
}

/// A GeoLite2-City-shaped database: 192.0.2.0/24 in NL, 2001:db8::/32 in
/// DE, and 198.51.100.0/24 with only a registered country, SE.
pub fn city_db(dir: &Path) -> PathBuf {
    let country = |code: &str| Value::map([("iso_code", Value::from(code))]);
    let mut w = Writer::new("GeoLite2-City");
    for (cidr, key, code) in [
        ("192.0.2.0/24", "country", "NL"),
        ("2001:db8::/32", "country", "DE"),
        ("198.51.100.0/24", "registered_country", "SE"),
    ] {
        w.insert_value(
            net(cidr),
            Value::map([
                (key, country(code)),
                ("city", Value::map([("geoname_id", Value::from(1_u32))])),
            ]),
        )
        .expect("insert");
    }
    write_db(&w, dir.join("city.mmdb"))
}

/// A GeoLite2-Country-shaped database holding IPv4 only: 203.0.113.0/24 in
/// JP.
pub fn country_v4_db(dir: &Path) -> PathBuf {
    let mut w = Writer::builder("GeoLite2-Country")
        .ip_version(IpVersion::V4)
        .build();
    w.insert_value(
        net("203.0.113.0/24"),
        Value::map([("country", Value::map([("iso_code", Value::from("JP"))]))]),
    )
    .expect("insert");
    write_db(&w, dir.join("country-v4.mmdb"))
}

/// An RDAP server on 127.0.0.1 answering `/ip/ADDR`:
/// - 192.0.2.0/24 and 2001:db8::/32: IP network objects written here;
/// - 203.0.113.0/24: the same kind of answer, after [`SLOW_ANSWER`];
/// - 198.51.100.66: an entity, not a network;
/// - 198.51.100.99: a network that does not hold the address;
/// - anything else: 404.
pub struct RdapServer {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    server: Server,
}

impl RdapServer {
    /// Starts the server on a thread; it lives as long as the test process.
    pub fn start() -> RdapServer {
        let server = Server::start(|request, base| answer(&request.path, base));
        RdapServer {
            base_url: server.base_url.clone(),
            server,
        }
    }

    /// The paths asked so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.server.requests().into_iter().map(|r| r.path).collect()
    }
}

const RDAP_JSON: &str = "application/rdap+json";

fn answer(path: &str, base: &str) -> Reply {
    let addr = path.strip_prefix("/ip/").unwrap_or("");
    if addr.starts_with("192.0.2.") {
        Reply::ok(RDAP_JSON, network_192_0_2(base))
    } else if addr.starts_with("2001:db8:") {
        Reply::ok(RDAP_JSON, network_2001_db8())
    } else if addr.starts_with("203.0.113.") {
        std::thread::sleep(SLOW_ANSWER);
        Reply::ok(RDAP_JSON, network_203_0_113(base))
    } else if addr == "198.51.100.66" {
        Reply::ok(
            RDAP_JSON,
            r#"{"objectClassName": "entity", "handle": "E1"}"#,
        )
    } else if addr == "198.51.100.99" {
        Reply::ok(RDAP_JSON, network_203_0_113(base))
    } else {
        Reply::status(
            "404 Not Found",
            RDAP_JSON,
            r#"{"errorCode": 404, "title": "Not Found"}"#,
        )
    }
}

/// A jCard with a name and an email.
fn vcard(name: &str, email: &str) -> String {
    format!(
        r#"["vcard", [["version", {{}}, "text", "4.0"], ["fn", {{}}, "text", "{name}"], ["email", {{}}, "text", "{email}"]]]"#
    )
}

fn network_192_0_2(base: &str) -> String {
    format!(
        r#"{{
  "rdapConformance": ["rdap_level_0"],
  "objectClassName": "ip network",
  "handle": "NET-192-0-2-0-1",
  "startAddress": "192.0.2.0",
  "endAddress": "192.0.2.255",
  "ipVersion": "v4",
  "name": "TEST-NET-1",
  "type": "ASSIGNED",
  "country": "NL",
  "entities": [{{
    "objectClassName": "entity",
    "handle": "EXAMPLE-ORG",
    "roles": ["registrant"],
    "vcardArray": {registrant},
    "entities": [{{
      "objectClassName": "entity",
      "handle": "EXAMPLE-ABUSE",
      "roles": ["abuse"],
      "vcardArray": {abuse}
    }}]
  }}],
  "links": [{{"value": "{base}/ip/192.0.2.0", "rel": "self", "href": "{base}/ip/192.0.2.0/24", "type": "application/rdap+json"}}]
}}"#,
        registrant = vcard("Example Org", "noc@example.net"),
        abuse = vcard("Example Abuse Desk", "abuse@example.net"),
    )
}

/// Without a self link: the client falls back to the URL it asked.
fn network_2001_db8() -> String {
    format!(
        r#"{{"objectClassName": "ip network", "handle": "NET6-2001-DB8-1",
  "startAddress": "2001:db8::", "endAddress": "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
  "name": "DOC-V6", "entities": [{{"roles": ["abuse", "technical"], "vcardArray": {abuse}}}]}}"#,
        abuse = vcard("V6 Abuse", "abuse6@example.net"),
    )
}

fn network_203_0_113(base: &str) -> String {
    format!(
        r#"{{"objectClassName": "ip network", "handle": "NET-203-0-113-0-1",
  "startAddress": "203.0.113.0", "endAddress": "203.0.113.255", "name": "TEST-NET-3",
  "links": [{{"rel": "self", "href": "{base}/ip/203.0.113.0/24"}}]}}"#
    )
}

/// A loopback port that nothing listens on.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}
