//! How many packets one exported packet stands for: the sampling
//! multiplier of a NetFlow v9 or IPFIX record.
//!
//! Exporters state sampling in several ways. A data record may carry its
//! own parameters ([`Sampling::rate`]); otherwise it may name a sampler
//! (v9 FLOW_SAMPLER_ID / IPFIX samplerId, 48) or selector (IPFIX
//! selectorId, 302) whose parameters came in options data, or the
//! exporter may have sent options data without an id, which then holds
//! for all its records. [`Samplers`] remembers what options data said,
//! per observation domain (v9 source id), and answers the lookups.

use std::collections::HashMap;

/// Sampling parameters found in one record (data or options).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sampling {
    /// v9 SAMPLING_INTERVAL / IPFIX samplingInterval (34).
    pub(crate) interval: Option<u64>,
    /// v9 FLOW_SAMPLER_RANDOM_INTERVAL / IPFIX samplerRandomInterval (50).
    pub(crate) random_interval: Option<u64>,
    /// IPFIX samplingPacketInterval (305): packets selected in a row.
    pub(crate) packet_interval: Option<u64>,
    /// IPFIX samplingPacketSpace (306): packets then skipped.
    pub(crate) packet_space: Option<u64>,
    /// IPFIX samplingSize (309): packets selected out of each population.
    pub(crate) size: Option<u64>,
    /// IPFIX samplingPopulation (310).
    pub(crate) population: Option<u64>,
    /// The sampler (48) or selector (302) id the record names. Both share
    /// one table: an exporter names its samplers one way or the other.
    pub(crate) sampler: Option<u64>,
}

/// `num / den` rounded to the nearest integer (halves up), for `den > 0`:
/// 8 packets of which 3 are selected stand for 2.67 each, and 3 is closer
/// than the 2 a truncating division gives.
fn rounded_ratio(num: u64, den: u64) -> u64 {
    let (q, r) = (num / den, num % den);
    q + u64::from(r >= den - r)
}

impl Sampling {
    /// The multiplier the record states itself, one-in-N, from the first of
    /// these it carries with a usable value:
    ///
    /// - samplingInterval (34) N > 0: N;
    /// - samplerRandomInterval (50) N > 0: N;
    /// - samplingPacketInterval (305) I > 0 with samplingPacketSpace (306)
    ///   S (0 when absent): (I + S) / I;
    /// - samplingSize (309) n > 0 with samplingPopulation (310) N:
    ///   N / n (RFC 5477 §8.2.2).
    ///
    /// Ratios are rounded to the nearest integer. A zero interval or size
    /// states nothing (no division by zero): the record falls back to its
    /// sampler's or the exporter's rate. A result below 1 (a population
    /// smaller than its sample) is 1, one above `u32::MAX` is `u32::MAX`.
    pub(crate) fn rate(&self) -> Option<u32> {
        let positive = |v: Option<u64>| v.filter(|&v| v > 0);
        let n = if let Some(n) = positive(self.interval) {
            n
        } else if let Some(n) = positive(self.random_interval) {
            n
        } else if let Some(i) = positive(self.packet_interval) {
            rounded_ratio(i.saturating_add(self.packet_space.unwrap_or(0)), i)
        } else if let (Some(size), Some(population)) = (positive(self.size), self.population) {
            rounded_ratio(population, size)
        } else {
            return None;
        };
        Some(u32::try_from(n).unwrap_or(u32::MAX).max(1))
    }
}

/// (observation domain, sampler/selector id if the options record had one).
pub(crate) type SamplerKey = (u32, Option<u64>);

/// What a data record's sampler lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lookup {
    /// The multiplier, if options data gave one.
    pub(crate) rate: Option<u32>,
    /// The record named a sampler id that options data never defined (it
    /// may still have the exporter-wide rate).
    pub(crate) unknown_sampler: bool,
}

/// Sampling rates one exporter stated in options data.
#[derive(Debug, Default)]
pub(crate) struct Samplers {
    /// Rates by domain and id, with the decoder tick at which each was
    /// learned (the oldest is evicted at the cap).
    by_domain: HashMap<SamplerKey, (u32, u64), foldhash::fast::RandomState>,
    /// Per id (or `None`, the id-less default), the rate every domain that
    /// defines it agrees on, or `None` when they disagree. Rebuilt when a
    /// lookup needs it after something was learned, so that a flood of
    /// options records costs no more than their decoding.
    agreed: HashMap<Option<u64>, Option<u32>, foldhash::fast::RandomState>,
    /// Something was learned since `agreed` was built.
    stale: bool,
}

impl Samplers {
    /// Remembers `rate` for `key`; at `cap` entries the one learned longest
    /// ago makes room. Returns whether one was evicted.
    pub(crate) fn learn(&mut self, key: SamplerKey, rate: u32, tick: u64, cap: usize) -> bool {
        let mut evicted = false;
        if !self.by_domain.contains_key(&key) && self.by_domain.len() >= cap {
            let oldest = self
                .by_domain
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                self.by_domain.remove(&oldest);
                evicted = true;
            }
        }
        if cap > 0 {
            self.by_domain.insert(key, (rate, tick));
        }
        self.stale = true;
        evicted
    }

    /// The rate all domains that define `id` agree on.
    fn agreed(&mut self, id: Option<u64>) -> Option<u32> {
        if self.stale {
            self.stale = false;
            self.agreed.clear();
            for (&(_, id), &(rate, _)) in &self.by_domain {
                self.agreed
                    .entry(id)
                    .and_modify(|agreed| {
                        if *agreed != Some(rate) {
                            *agreed = None;
                        }
                    })
                    .or_insert(Some(rate));
            }
        }
        self.agreed.get(&id).copied().flatten()
    }

    /// The rate learned for exactly this domain and id.
    pub(crate) fn learned(&self, key: SamplerKey) -> Option<u32> {
        self.by_domain.get(&key).map(|(rate, _)| *rate)
    }

    /// The rate for `id` in `domain`, else the one the exporter's other
    /// domains agree on. Cisco IOS XE, for one, sends its sampler options
    /// under another source id (6) than its flows.
    fn rate_of(&mut self, domain: u32, id: Option<u64>) -> Option<u32> {
        self.learned((domain, id)).or_else(|| self.agreed(id))
    }

    /// The rate for a data record of `domain` naming `sampler` (if any):
    /// that sampler's, else the exporter's id-less default.
    pub(crate) fn lookup(&mut self, domain: u32, sampler: Option<u64>) -> Lookup {
        let by_id = sampler.and_then(|id| self.rate_of(domain, Some(id)));
        Lookup {
            rate: by_id.or_else(|| self.rate_of(domain, None)),
            unknown_sampler: sampler.is_some() && by_id.is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stated(f: impl FnOnce(&mut Sampling)) -> Option<u32> {
        let mut s = Sampling::default();
        f(&mut s);
        s.rate()
    }

    #[test]
    fn each_way_of_stating_a_rate() {
        assert_eq!(stated(|s| s.interval = Some(100)), Some(100));
        assert_eq!(stated(|s| s.random_interval = Some(64)), Some(64));
        // 1 selected, 99 skipped.
        let packets = |i, space| {
            stated(|s| {
                s.packet_interval = Some(i);
                s.packet_space = space;
            })
        };
        assert_eq!(packets(1, Some(99)), Some(100));
        assert_eq!(packets(10, Some(90)), Some(10));
        assert_eq!(packets(5, None), Some(1));
        // 3 of 8: 2.67 rounds to 3; 2 of 5: 2.5 rounds up.
        assert_eq!(packets(3, Some(5)), Some(3));
        let count = |size, population| {
            stated(|s| {
                s.size = Some(size);
                s.population = Some(population);
            })
        };
        assert_eq!(count(1, 1000), Some(1000));
        assert_eq!(count(3, 8), Some(3));
        assert_eq!(count(2, 5), Some(3));
        assert_eq!(count(3, 10), Some(3));
        // The first stated way wins.
        assert_eq!(
            stated(|s| {
                s.interval = Some(10);
                s.random_interval = Some(20);
            }),
            Some(10)
        );
    }

    #[test]
    fn zero_and_absurd_values() {
        assert_eq!(stated(|s| s.interval = Some(0)), None);
        assert_eq!(
            stated(|s| {
                s.interval = Some(0);
                s.random_interval = Some(7);
            }),
            Some(7)
        );
        assert_eq!(stated(|s| s.packet_interval = Some(0)), None);
        assert_eq!(stated(|s| s.packet_space = Some(9)), None);
        assert_eq!(
            stated(|s| {
                s.size = Some(0);
                s.population = Some(100);
            }),
            None
        );
        // A population smaller than the sample, and no population at all.
        assert_eq!(
            stated(|s| {
                s.size = Some(10);
                s.population = Some(2);
            }),
            Some(1)
        );
        assert_eq!(stated(|s| s.size = Some(10)), None);
        assert_eq!(stated(|s| s.interval = Some(u64::MAX)), Some(u32::MAX));
        assert_eq!(
            stated(|s| {
                s.packet_interval = Some(1);
                s.packet_space = Some(u64::MAX);
            }),
            Some(u32::MAX)
        );
        assert_eq!(rounded_ratio(u64::MAX, u64::MAX), 1);
        assert_eq!(rounded_ratio(u64::MAX, 2), u64::MAX / 2 + 1);
    }

    fn found(rate: Option<u32>, unknown_sampler: bool) -> Lookup {
        Lookup {
            rate,
            unknown_sampler,
        }
    }

    #[test]
    fn lookups_by_id_domain_and_default() {
        let mut s = Samplers::default();
        assert_eq!(s.lookup(1, None), found(None, false));
        assert_eq!(s.lookup(1, Some(4)), found(None, true));
        s.learn((6, Some(1)), 10, 1, 256);
        s.learn((6, Some(2)), 100, 2, 256);
        // Options under source id 6, flows under 256.
        assert_eq!(s.lookup(256, Some(1)), found(Some(10), false));
        assert_eq!(s.lookup(256, Some(2)), found(Some(100), false));
        assert_eq!(s.lookup(256, Some(3)), found(None, true));
        assert_eq!(s.lookup(256, None), found(None, false));
        // A domain's own definition wins; other domains that disagree
        // lend nothing.
        s.learn((7, Some(1)), 50, 3, 256);
        assert_eq!(s.lookup(7, Some(1)), found(Some(50), false));
        assert_eq!(s.lookup(6, Some(1)), found(Some(10), false));
        assert_eq!(s.lookup(256, Some(1)), found(None, true));
        // The id-less default covers records without an id, and those
        // whose id is unknown (still flagged).
        s.learn((256, None), 1000, 4, 256);
        assert_eq!(s.lookup(256, None), found(Some(1000), false));
        assert_eq!(s.lookup(256, Some(9)), found(Some(1000), true));
        assert_eq!(s.lookup(8, None), found(Some(1000), false));
        // A redefinition replaces the rate.
        s.learn((6, Some(2)), 20, 5, 256);
        assert_eq!(s.lookup(256, Some(2)), found(Some(20), false));
        // 64-bit selector ids are not cut to 32 bits.
        s.learn((1, Some(1 << 32 | 2)), 5, 6, 256);
        assert_eq!(s.lookup(1, Some(2)), found(Some(20), false));
        assert_eq!(s.lookup(1, Some(1 << 32 | 2)), found(Some(5), false));
    }

    #[test]
    fn the_cap_evicts_the_oldest() {
        let mut s = Samplers::default();
        assert!(!s.learn((1, Some(1)), 10, 1, 2));
        assert!(!s.learn((1, Some(2)), 20, 2, 2));
        assert!(!s.learn((1, Some(1)), 11, 3, 2));
        assert!(s.learn((1, Some(3)), 30, 4, 2));
        assert_eq!(s.learned((1, Some(2))), None);
        assert_eq!(s.lookup(1, Some(2)), found(None, true));
        assert_eq!(s.learned((1, Some(1))), Some(11));
        let mut none = Samplers::default();
        assert!(!none.learn((1, None), 10, 1, 0));
        assert_eq!(none.lookup(1, None), found(None, false));
    }
}
