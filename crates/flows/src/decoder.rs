//! The stateful entry point: one [`Decoder`] per collector, fed every
//! datagram from every exporter. It recognises the export protocol from the
//! first bytes (NetFlow v5/v9 and IPFIX start with a 16-bit version 5, 9 or
//! 10; sFlow with a 32-bit version 5, i.e. two zero bytes), keeps the
//! per-exporter state that template-based protocols need under caps, and
//! counts every outcome.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use crate::error::{Counters, DecodeError};
use crate::netflow::{self, ExporterState};
use crate::record::FlowRecord;
use crate::sflow;

/// Limits that keep a collector's memory bounded whatever exporters send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderConfig {
    /// Exporters whose template state is kept; past it the exporter heard
    /// from least recently is forgotten (counted in `exporters_evicted`).
    pub max_exporters: usize,
    /// Templates (data and options) kept per exporter; past it the one
    /// defined longest ago is evicted (`templates_evicted`).
    pub max_templates_per_exporter: usize,
    /// Templates kept over all exporters; past it the exporters heard from
    /// least recently are forgotten (`exporters_evicted`). Without it the
    /// two caps above would allow millions of templates to sources that
    /// are easily spoofed; with it, template state stays within about
    /// `max_templates × (4 × max_template_fields + 100)` bytes.
    pub max_templates: usize,
    /// Largest field count accepted in a template (`too_many_fields`).
    pub max_template_fields: usize,
    /// Sampling rates remembered per exporter (`samplers_evicted`).
    pub max_samplers_per_exporter: usize,
    /// Drop warnings logged per second; the rest are counted in
    /// `logs_suppressed`.
    pub logs_per_second: u32,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self {
            max_exporters: 4096,
            max_templates_per_exporter: 1024,
            max_templates: 65_536,
            max_template_fields: 512,
            max_samplers_per_exporter: 256,
            logs_per_second: 10,
        }
    }
}

/// Allows a few log lines per second of (caller-supplied) time.
#[derive(Debug, Default)]
pub(crate) struct LogLimiter {
    second: u64,
    used: u32,
}

/// What one decode call works with: where the datagram came from, where
/// records go, and what to count.
pub(crate) struct Context<'a> {
    pub(crate) exporter: IpAddr,
    pub(crate) now_ms: u64,
    pub(crate) tick: u64,
    pub(crate) config: &'a DecoderConfig,
    pub(crate) counters: &'a mut Counters,
    pub(crate) out: &'a mut Vec<FlowRecord>,
    log: &'a mut LogLimiter,
}

impl Context<'_> {
    /// Logs a drop unless this second's allowance is used up.
    pub(crate) fn log_drop(&mut self, error: &DecodeError) {
        let second = self.now_ms / 1000;
        if second != self.log.second {
            self.log.second = second;
            self.log.used = 0;
        }
        if self.log.used < self.config.logs_per_second {
            self.log.used += 1;
            tracing::warn!(exporter = %self.exporter, reason = error.reason().label(), "dropped flow export data: {error}");
        } else {
            self.counters.logs_suppressed += 1;
        }
    }
}

/// Decodes NetFlow v5, NetFlow v9, IPFIX and sFlow v5 datagrams.
///
/// ```
/// use portreeve_flows::Decoder;
/// let mut decoder = Decoder::default();
/// let mut records = Vec::new();
/// let exporter = "192.0.2.1:2055".parse().unwrap();
/// // A NetFlow v5 header announcing no records.
/// let mut v5 = vec![0, 5, 0, 0];
/// v5.resize(24, 0);
/// assert_eq!(decoder.decode(exporter, &v5, 0, &mut records), Ok(0));
/// assert!(decoder.decode(exporter, &[0, 9, 0], 0, &mut records).is_err());
/// assert_eq!(decoder.counters().datagrams_dropped.get(portreeve_flows::DropReason::Truncated), 1);
/// ```
#[derive(Debug, Default)]
pub struct Decoder {
    config: DecoderConfig,
    exporters: HashMap<IpAddr, ExporterState, foldhash::fast::RandomState>,
    counters: Counters,
    /// Increases with every datagram; orders template and exporter age
    /// without depending on the caller's clock.
    tick: u64,
    log: LogLimiter,
}

impl Decoder {
    /// A decoder with the given limits.
    pub fn new(config: DecoderConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// Decodes one datagram from `exporter` received at `now_ms` (Unix ms),
    /// appending its flow records to `out` and returning how many.
    ///
    /// On error the datagram is dropped as a whole: `out` is left as it was
    /// and the drop is counted and (rate-limited) logged. Template and
    /// sampling state learned from sets before the failing one is kept.
    /// Data sets whose template is unknown are skipped and counted in
    /// `sets_dropped` without failing the datagram.
    pub fn decode(
        &mut self,
        exporter: SocketAddr,
        datagram: &[u8],
        now_ms: u64,
        out: &mut Vec<FlowRecord>,
    ) -> Result<usize, DecodeError> {
        self.tick += 1;
        let start = out.len();
        let exporter = exporter.ip();
        let result = self.decode_inner(exporter, datagram, now_ms, out);
        match result {
            Ok(()) => {
                let n = out.len() - start;
                self.counters.datagrams_ok += 1;
                self.counters.records += n as u64;
                Ok(n)
            }
            Err(error) => {
                out.truncate(start);
                self.counters.datagrams_dropped.add(error.reason());
                let mut cx = self.context(exporter, now_ms, out);
                cx.log_drop(&error);
                Err(error)
            }
        }
    }

    fn context<'a>(
        &'a mut self,
        exporter: IpAddr,
        now_ms: u64,
        out: &'a mut Vec<FlowRecord>,
    ) -> Context<'a> {
        Context {
            exporter,
            now_ms,
            tick: self.tick,
            config: &self.config,
            counters: &mut self.counters,
            out,
            log: &mut self.log,
        }
    }

    fn decode_inner(
        &mut self,
        exporter: IpAddr,
        datagram: &[u8],
        now_ms: u64,
        out: &mut Vec<FlowRecord>,
    ) -> Result<(), DecodeError> {
        let version = match datagram {
            [a, b, ..] => u16::from_be_bytes([*a, *b]),
            _ => return Err(DecodeError::Truncated("version")),
        };
        match version {
            5 => netflow::decode_v5(&mut self.context(exporter, now_ms, out), datagram),
            9 | 10 => {
                self.touch_exporter(exporter);
                let Decoder {
                    config,
                    exporters,
                    counters,
                    tick,
                    log,
                } = self;
                let state = exporters
                    .get_mut(&exporter)
                    .ok_or(DecodeError::Invalid("exporter state"))?;
                let mut cx = Context {
                    exporter,
                    now_ms,
                    tick: *tick,
                    config,
                    counters,
                    out,
                    log,
                };
                let before = state.templates.len() as u64;
                let result = if version == 9 {
                    netflow::decode_v9(&mut cx, state, datagram)
                } else {
                    netflow::decode_ipfix(&mut cx, state, datagram)
                };
                let after = state.templates.len() as u64;
                cx.counters.templates = (cx.counters.templates + after).saturating_sub(before);
                self.forget_exporters_past_the_template_cap(exporter);
                result
            }
            0 => sflow::decode(&mut self.context(exporter, now_ms, out), datagram),
            other => Err(DecodeError::UnsupportedVersion(u32::from(other))),
        }
    }

    /// Makes sure `exporter` has state, evicting the least recently heard
    /// exporter when the cap is reached.
    fn touch_exporter(&mut self, exporter: IpAddr) {
        if let Some(state) = self.exporters.get_mut(&exporter) {
            state.last_seen = self.tick;
            return;
        }
        if self.exporters.len() >= self.config.max_exporters.max(1) {
            let oldest = self
                .exporters
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(a, _)| *a);
            if let Some(evicted) = oldest.and_then(|a| self.exporters.remove(&a)) {
                self.counters.exporters_evicted += 1;
                self.counters.templates = self
                    .counters
                    .templates
                    .saturating_sub(evicted.templates.len() as u64);
            }
        }
        self.exporters.insert(
            exporter,
            ExporterState {
                last_seen: self.tick,
                ..Default::default()
            },
        );
        self.counters.exporters = self.exporters.len() as u64;
    }

    /// While more templates are held than [`DecoderConfig::max_templates`],
    /// forgets the exporter heard from least recently (never `current`).
    fn forget_exporters_past_the_template_cap(&mut self, current: IpAddr) {
        while self.counters.templates > self.config.max_templates as u64 {
            let oldest = self
                .exporters
                .iter()
                .filter(|(a, _)| **a != current)
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(a, _)| *a);
            let Some(evicted) = oldest.and_then(|a| self.exporters.remove(&a)) else {
                return;
            };
            self.counters.exporters_evicted += 1;
            self.counters.templates = self
                .counters
                .templates
                .saturating_sub(evicted.templates.len() as u64);
            self.counters.exporters = self.exporters.len() as u64;
        }
    }

    /// What has been decoded and dropped so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The limits in force.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// Templates (data and options) held for one exporter.
    pub fn template_count(&self, exporter: IpAddr) -> usize {
        self.exporters
            .get(&exporter)
            .map_or(0, |e| e.templates.len())
    }

    /// The sampling rate learned from options data for an exporter's
    /// observation domain and, if given, sampler (selector) id.
    pub fn learned_sampling_rate(
        &self,
        exporter: IpAddr,
        domain: u32,
        sampler: Option<u32>,
    ) -> Option<u32> {
        let samplers = &self.exporters.get(&exporter)?.samplers;
        samplers.learned((domain, sampler.map(u64::from)))
    }
}
