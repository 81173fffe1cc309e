//! All three lookups together, within one time budget.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::positive;
use crate::worker::Workers;
use crate::{GeoDatabases, RdapClient, RdapNetwork, ReverseDns, TraceConfig, TraceError};

/// RDAP requests still running at once, at most: each ends by itself
/// within the RDAP timeout, so this only matters under a flood of
/// detections while the server is slow.
const MAX_RDAP_REQUESTS: usize = 16;

/// What is known of a source address. Fields are empty when a lookup is
/// not configured, found nothing, failed or was too slow; failures and
/// slowness are in `errors`, in words.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Enrichment {
    /// The PTR name of the address.
    pub reverse_dns: Option<String>,
    /// Autonomous system number, from the MaxMind databases.
    pub asn: Option<u32>,
    /// Autonomous system organisation, from the MaxMind databases.
    pub as_org: Option<String>,
    /// ISO 3166-1 alpha-2 country code, from the MaxMind databases.
    pub country: Option<String>,
    /// The registered network holding the address, from RDAP.
    pub rdap: Option<RdapNetwork>,
    /// What could not be found out, and why.
    pub errors: Vec<String>,
}

/// Runs reverse DNS, the MaxMind lookups and RDAP for an address at the
/// same time and returns what arrived within the budget.
///
/// Call it after blocking, never before: a block must not wait for a
/// resolver or a registry. [`Enricher::enrich`] returns within the budget
/// (plus the MaxMind lookups, which are in memory) however slow the
/// resolver and the RDAP server are.
#[derive(Debug)]
pub struct Enricher {
    geo: Option<GeoDatabases>,
    reverse_dns: Option<ReverseDns>,
    rdap: Option<Arc<RdapClient>>,
    rdap_workers: Workers,
    budget: Duration,
}

impl Enricher {
    /// An enricher from its parts; `None` leaves a lookup out.
    pub fn new(
        geo: Option<GeoDatabases>,
        reverse_dns: Option<ReverseDns>,
        rdap: Option<RdapClient>,
        budget: Duration,
    ) -> Enricher {
        Enricher {
            geo,
            reverse_dns,
            rdap: rdap.map(Arc::new),
            rdap_workers: Workers::new("RDAP lookup", MAX_RDAP_REQUESTS),
            budget,
        }
    }

    /// An enricher as `config` describes it: the MaxMind files are opened
    /// now, so a missing or broken one is an error here, not at each lookup.
    pub fn from_config(config: &TraceConfig) -> Result<Enricher, TraceError> {
        let geo = (!config.mmdb.is_empty())
            .then(|| GeoDatabases::open(&config.mmdb))
            .transpose()?;
        let reverse_dns = if config.reverse_dns {
            let timeout = positive("reverse_dns_timeout", config.reverse_dns_timeout)?;
            Some(ReverseDns::new(timeout, config.reverse_dns_max_outstanding))
        } else {
            None
        };
        let rdap = match &config.rdap_base_url {
            Some(url) => Some(RdapClient::new(
                url,
                positive("rdap_connect_timeout", config.rdap_connect_timeout)?,
                positive("rdap_timeout", config.rdap_timeout)?,
                positive("rdap_cache_ttl", config.rdap_cache_ttl)?,
            )?),
            None => None,
        };
        let budget = positive("budget", config.budget)?;
        Ok(Enricher::new(geo, reverse_dns, rdap, budget))
    }

    /// What can be found out about `addr` within the budget. An
    /// IPv4-mapped IPv6 address (as dual-stack sockets report IPv4 peers)
    /// is traced as the IPv4 address it is.
    pub fn enrich(&self, addr: IpAddr) -> Enrichment {
        let addr = addr.to_canonical();
        let deadline = Instant::now() + self.budget;
        let mut out = Enrichment::default();
        let mut errors: Vec<TraceError> = Vec::new();

        let name = self.reverse_dns.as_ref().map(|r| r.start(addr));
        let network = self.rdap.as_ref().map(|client| {
            let client = Arc::clone(client);
            self.rdap_workers.spawn(move || client.lookup(addr))
        });

        if let Some(geo) = &self.geo {
            let (info, geo_errors) = geo.lookup(addr);
            (out.asn, out.as_org, out.country) = (info.asn, info.as_org, info.country);
            errors.extend(geo_errors);
        }
        match name.map(|started| started.and_then(|p| p.finish(Some((deadline, self.budget))))) {
            Some(Ok(found)) => out.reverse_dns = found,
            Some(Err(e)) => errors.push(e),
            None => {}
        }
        match network.map(|started| {
            started.and_then(|p| {
                p.wait_until(deadline)
                    .unwrap_or(Err(TraceError::OverBudget {
                        what: "RDAP lookup",
                        budget: self.budget,
                    }))
            })
        }) {
            Some(Ok(found)) => out.rdap = Some(found),
            Some(Err(e)) => errors.push(e),
            None => {}
        }
        out.errors = errors.iter().map(ToString::to_string).collect();
        out
    }
}
