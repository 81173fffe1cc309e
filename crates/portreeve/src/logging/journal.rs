//! Log lines for the systemd journal.
//!
//! A service's standard error under systemd is a stream into journald,
//! which files each line as one entry with its own timestamp, unit and
//! PID, at the priority a leading `<N>` gives it (the `sd-daemon(3)`
//! convention; without a prefix every line is filed at the unit's default,
//! `info`). So each event is written as `<N>message key=value …`: no
//! timestamp, no level word and no colour, one line whatever the message
//! holds.
//!
//! This prefix format was chosen over writing native entries to
//! `/run/systemd/journal/socket` (the `tracing-journald` crate): it needs
//! no journald to be running, works the same when the stream is
//! redirected or relayed (a container runtime, `systemd-cat`), adds no
//! dependency, and can be tested on a machine without systemd, which the
//! native protocol cannot.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::output::escape::one_line;

/// The syslog priority of a tracing level: `err`, `warning`, `info`, and
/// `debug` for both debug and trace.
pub fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Whether standard error is the journal stream systemd connected: its
/// device and inode are those `$JOURNAL_STREAM` names. Comparing both (as
/// `sd_journal_stream_fd(3)` asks) keeps a child that inherited the
/// variable but writes its standard error elsewhere on its usual format.
pub fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(stat) = rustix::fs::fstat(std::io::stderr()) else {
        return false;
    };
    names_stream(&stream.to_string_lossy(), stat.st_dev, stat.st_ino)
}

/// Whether `stream`, as systemd writes `$JOURNAL_STREAM` (`DEVICE:INODE`,
/// both decimal), names the file with device `dev` and inode `ino`.
fn names_stream(stream: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = stream.split_once(':') else {
        return false;
    };
    d.parse() == Ok(dev) && i.parse() == Ok(ino)
}

/// `text` with every line prefixed as an error, for a report written to
/// standard error outside tracing: without the prefix the journal would
/// file a failure at `info`.
pub fn error_lines(text: &str) -> String {
    let prefix = format!("<{}>", priority(Level::ERROR));
    text.lines().map(|l| format!("{prefix}{l}\n")).collect()
}

/// Formats events as `<N>message key=value …`.
pub struct JournalFormat;

impl<S, N> FormatEvent<S, N> for JournalFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        writeln!(
            writer,
            "<{}>{}{}",
            priority(*event.metadata().level()),
            fields.message,
            fields.rest
        )
    }
}

/// An event's message and its other fields as ` key=value`, each on one
/// line with control characters escaped; a value with a space, a quote or
/// an `=` is quoted so the pairs stay apart.
#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = one_line(value).into_owned();
        } else {
            let value = one_line(value);
            let _ = if value.is_empty() || value.contains([' ', '"', '=']) {
                write!(
                    self.rest,
                    " {}=\"{}\"",
                    field.name(),
                    value.replace('\\', "\\\\").replace('"', "\\\"")
                )
            } else {
                write!(self.rest, " {}={value}", field.name())
            };
        }
    }

    /// Every value that is not a string arrives here; `%x` fields and the
    /// message format through `Display`.
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_to_syslog_priorities() {
        let mapped = [
            Level::ERROR,
            Level::WARN,
            Level::INFO,
            Level::DEBUG,
            Level::TRACE,
        ]
        .map(priority);
        assert_eq!(mapped, [3, 4, 6, 7, 7]);
    }

    #[test]
    fn the_stream_must_match_device_and_inode() {
        assert!(names_stream("64770:1234", 64770, 1234));
        assert!(!names_stream("64770:1234", 64770, 1235));
        assert!(!names_stream("64771:1234", 64770, 1234));
        assert!(!names_stream("64770", 64770, 1234));
        assert!(!names_stream("", 64770, 1234));
    }

    /// What `log` writes through [`JournalFormat`] at debug level.
    fn written(log: impl FnOnce()) -> String {
        let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(Level::DEBUG)
            .with_ansi(false)
            .event_format(JournalFormat)
            .with_writer(move || SharedBuffer(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        String::from_utf8(out.lock().unwrap().clone()).unwrap()
    }

    /// A writer into a buffer the test reads afterwards.
    struct SharedBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for SharedBuffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_event_is_one_line_of_message_and_fields() {
        let text = written(|| {
            tracing::warn!(port = 22, owner = "uid 0 sshd", path = %"/tmp/a\nb", "cannot\nread");
            tracing::debug!(empty = "", quoted = "say \"hi\"", "done");
        });
        assert_eq!(
            text,
            "<4>cannot\\nread port=22 owner=\"uid 0 sshd\" path=/tmp/a\\nb\n\
             <7>done empty=\"\" quoted=\"say \\\"hi\\\"\"\n"
        );
    }

    #[test]
    fn every_line_of_a_report_is_an_error() {
        assert_eq!(
            error_lines("portreeve: error: no\n  because\n"),
            "<3>portreeve: error: no\n<3>  because\n"
        );
    }
}
