//! RDAP lookups of IP networks (RFC 7482 `/ip/ADDR`, RFC 9083 answers)
//! from one configured server, with timeouts and a cache.

mod cache;
mod model;

use std::net::IpAddr;
use std::time::Duration;

pub use model::RdapNetwork;

use crate::TraceError;
use cache::NetworkCache;

/// Largest answer read: a network object is a few kilobytes.
const MAX_ANSWER_BYTES: u64 = 1 << 20;

/// Asks one RDAP server which network holds an address.
#[derive(Debug)]
pub struct RdapClient {
    base_url: String,
    total_timeout: Duration,
    agent: ureq::Agent,
    cache: NetworkCache,
}

impl RdapClient {
    /// A client for the server at `base_url` (`http://` or `https://`; the
    /// query is `{base_url}/ip/{addr}`), giving up on connecting after
    /// `connect_timeout` and on the whole request after `total_timeout`,
    /// and answering from its cache for `cache_ttl` after a fetch.
    pub fn new(
        base_url: &str,
        connect_timeout: Duration,
        total_timeout: Duration,
        cache_ttl: Duration,
    ) -> Result<RdapClient, TraceError> {
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(TraceError::Config(format!(
                "rdap_base_url \"{base_url}\" is not an http:// or https:// URL"
            )));
        }
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(connect_timeout))
            .timeout_global(Some(total_timeout))
            // Only the configured server is asked, whatever the
            // environment's proxy variables say.
            .proxy(None)
            .http_status_as_error(false)
            .user_agent(concat!("portreeve/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(RdapClient {
            base_url: base_url.trim_end_matches('/').to_owned(),
            total_timeout,
            agent: ureq::Agent::new_with_config(config),
            cache: NetworkCache::new(cache_ttl),
        })
    }

    /// The network holding `addr`: from the cache when an unexpired fetched
    /// network holds it, else from the server. An IPv4-mapped IPv6
    /// address is asked as the IPv4 address it is.
    pub fn lookup(&self, addr: IpAddr) -> Result<RdapNetwork, TraceError> {
        let addr = addr.to_canonical();
        if let Some(network) = self.cache.get(addr) {
            return Ok(network);
        }
        let url = format!("{}/ip/{addr}", self.base_url);
        let body = self.fetch(&url)?;
        let network = RdapNetwork::parse(&body, &url, addr)
            .map_err(|reason| TraceError::RdapBadAnswer { url, reason })?;
        self.cache.put(network.clone());
        Ok(network)
    }

    /// The body of a 200 answer from `url`.
    fn fetch(&self, url: &str) -> Result<String, TraceError> {
        let failed = |e: ureq::Error| match e {
            ureq::Error::Timeout(_) => TraceError::RdapTimeout {
                url: url.to_owned(),
                after: self.total_timeout,
            },
            other => TraceError::RdapUnreachable {
                url: url.to_owned(),
                reason: transfer_failure(other),
            },
        };
        let mut answer = self
            .agent
            .get(url)
            .header("Accept", "application/rdap+json, application/json")
            .call()
            .map_err(failed)?;
        match answer.status().as_u16() {
            200 => answer
                .body_mut()
                .with_config()
                .limit(MAX_ANSWER_BYTES)
                .read_to_string()
                .map_err(failed),
            404 => Err(TraceError::RdapNotFound {
                url: url.to_owned(),
            }),
            status => Err(TraceError::RdapStatus {
                url: url.to_owned(),
                status,
            }),
        }
    }
}

/// Why a transfer failed, in words.
fn transfer_failure(e: ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) => io.to_string(),
        ureq::Error::HostNotFound => "the server's name does not resolve".into(),
        ureq::Error::ConnectionFailed => "the connection failed".into(),
        ureq::Error::BodyExceedsLimit(limit) => format!("the answer is larger than {limit} bytes"),
        other => other.to_string(),
    }
}
