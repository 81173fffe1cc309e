//! The capture settings an operator writes (`[capture]` in agent.toml).

use std::time::Duration;

use jiff::SignedDuration;
use serde::Deserialize;

use crate::CaptureError;

/// The smallest per-capture byte limit: the pcap file header and a few
/// records' worth, so a capture can hold something.
pub const MIN_BYTES: u64 = 1024;

/// Incident capture settings. Every key is optional; see
/// docs/detection.md ("Incident capture") for what each does.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaptureConfig {
    /// Whether a detection starts a capture at all.
    pub enabled: bool,
    /// A capture stops after this many packets…
    pub packets: u64,
    /// …or when its file would grow past this many bytes…
    pub bytes: u64,
    /// …or after this long, whichever comes first.
    pub duration: SignedDuration,
    /// The most the capture directory may hold: finished captures plus the
    /// `bytes` each running one may still reach. The oldest captures are
    /// deleted to make room for a new one.
    pub total_bytes: u64,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            enabled: true,
            packets: 1000,
            bytes: 1 << 20,
            duration: SignedDuration::from_secs(60),
            total_bytes: 64 << 20,
        }
    }
}

impl CaptureConfig {
    /// Checks the settings, naming the key at fault.
    pub fn validate(&self) -> Result<(), CaptureError> {
        let fault = |text: String| Err(CaptureError::Config(text));
        if self.packets == 0 {
            return fault("capture.packets must be at least 1".into());
        }
        if self.bytes < MIN_BYTES {
            return fault(format!(
                "capture.bytes must be at least {MIN_BYTES}, not {}",
                self.bytes
            ));
        }
        if self.total_bytes < self.bytes {
            return fault(format!(
                "capture.total_bytes ({}) must be at least capture.bytes ({}): no capture would ever fit",
                self.total_bytes, self.bytes
            ));
        }
        self.time_limit().map(|_| ())
    }

    /// `duration` as a std duration; an error unless it is positive.
    pub(crate) fn time_limit(&self) -> Result<Duration, CaptureError> {
        Duration::try_from(self.duration)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                CaptureError::Config(format!(
                    "capture.duration must be longer than zero, not {:#}",
                    self.duration
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> CaptureConfig {
        toml::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn fault(text: &str) -> String {
        parse(text)
            .validate()
            .expect_err("should be refused")
            .to_string()
    }

    #[test]
    fn an_empty_table_gives_the_documented_defaults() {
        let config = parse("");
        assert_eq!(config, CaptureConfig::default());
        assert!(config.enabled);
        assert_eq!(
            (config.packets, config.bytes, config.total_bytes),
            (1000, 1_048_576, 67_108_864)
        );
        assert_eq!(config.time_limit().unwrap(), Duration::from_secs(60));
        config.validate().unwrap();
    }

    #[test]
    fn every_key_is_read_and_durations_are_written_like_the_rest() {
        let config = parse(
            "enabled = false\npackets = 50\nbytes = 65536\nduration = \"2m 30s\"\ntotal_bytes = 1048576\n",
        );
        assert!(!config.enabled);
        assert_eq!(
            (config.packets, config.bytes, config.total_bytes),
            (50, 65_536, 1_048_576)
        );
        assert_eq!(config.time_limit().unwrap(), Duration::from_secs(150));
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let err = toml::from_str::<CaptureConfig>("packet = 5").unwrap_err();
        assert!(err.to_string().contains("unknown field `packet`"), "{err}");
    }

    #[test]
    fn impossible_limits_are_refused_by_name() {
        assert!(fault("packets = 0").contains("capture.packets"));
        assert!(fault("bytes = 100").contains("capture.bytes must be at least 1024"));
        assert!(fault("duration = \"0s\"").contains("capture.duration"));
        assert!(fault("duration = \"-5s\"").contains("capture.duration"));
        let err = fault("bytes = 4096\ntotal_bytes = 2048");
        assert!(
            err.contains("capture.total_bytes (2048) must be at least capture.bytes (4096)"),
            "{err}"
        );
    }
}
