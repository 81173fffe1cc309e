//! `portreeve export`: this host's findings, drift events, changes and
//! detections (gathered by `portreeve_app::export`) sent as Elastic Common
//! Schema JSON lines, to a Splunk HTTP Event Collector, or as RFC 5424
//! syslog messages — the formatting and delivery are `portreeve_alerts`'.
//!
//! Every option is checked before anything is gathered or sent, so a
//! mistake in one changes nothing and reaches no receiver.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use portreeve_alerts::config::{Facility, SyslogTransport};
use portreeve_alerts::splunk_hec::{self, AckOptions, HecClient, HecOptions};
use portreeve_alerts::syslog::{SyslogFormat, SyslogSink};
use portreeve_alerts::webhook::RetryPolicy;
use portreeve_app::export::{self, ExportRequest};

use crate::cli::{ExportArgs, ExportTarget, ExportTransport};
use crate::context::Context;
use crate::failure::{EXIT_OK, Failure};
use crate::output::{emit, note};

/// The environment variable holding the HEC token when no --token-file
/// is given (a token on the command line would be in `ps` for everyone).
const TOKEN_ENV: &str = "PORTREEVE_SPLUNK_TOKEN";
/// Each HEC request's and each syslog connection's time limit.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where the records go, with everything checked.
enum Destination {
    Ecs,
    Hec(HecOptions),
    Syslog {
        format: SyslogFormat,
        transport: SyslogTransport,
        address: String,
    },
}

pub fn run(args: &ExportArgs, ctx: &Context) -> Result<u8, Failure> {
    let destination = destination(args)?;
    let records = export::gather(
        &ctx.state,
        &ExportRequest {
            since: args.since,
            what: args.what.iter().copied().collect::<BTreeSet<_>>(),
        },
    )?;
    match destination {
        Destination::Ecs => {
            let mut text = String::new();
            for record in &records {
                text.push_str(&portreeve_alerts::ecs::record_document(record).to_string());
                text.push('\n');
            }
            match &args.output {
                Some(path) => portreeve_app::write_atomically(path, text.as_bytes(), 0o600)?,
                None => emit(&text),
            }
        }
        Destination::Hec(options) => {
            let url = options.url.clone();
            let summary = HecClient::new(options)
                .send(&records)
                .map_err(|e| Failure::Operational(e.to_string()))?;
            note(&format!(
                "sent {} events in {} requests to {url}{}",
                summary.events,
                summary.batches,
                if args.ack {
                    format!(", {} acknowledged", summary.acknowledged)
                } else {
                    String::new()
                }
            ));
        }
        Destination::Syslog {
            format,
            transport,
            address,
        } => {
            let mut sink = SyslogSink::new(format.clone(), transport, address.clone(), TIMEOUT);
            for (n, record) in records.iter().enumerate() {
                sink.send(&format.format_record(record)).map_err(|e| {
                    Failure::Operational(format!(
                        "cannot send event {} of {} to {address}: {e}",
                        n + 1,
                        records.len()
                    ))
                })?;
            }
            note(&format!("sent {} events to {address}", records.len()));
        }
    }
    Ok(EXIT_OK)
}

/// The destination `args` describe; options of another target are an
/// input error rather than silently ignored.
fn destination(args: &ExportArgs) -> Result<Destination, Failure> {
    let misplaced = |name: &str, given: bool, belongs: &str| {
        if given {
            Err(Failure::Input(format!(
                "{name} is an option of --to {belongs}, not of --to {}",
                target_name(args.to)
            )))
        } else {
            Ok(())
        }
    };
    let hec = args.to == ExportTarget::SplunkHec;
    let syslog = args.to == ExportTarget::Syslog;
    if args.to != ExportTarget::Ecs {
        misplaced("--output", args.output.is_some(), "ecs")?;
    }
    if !hec {
        misplaced("--url", args.url.is_some(), "splunk-hec")?;
        misplaced("--token-file", args.token_file.is_some(), "splunk-hec")?;
        misplaced("--ack", args.ack, "splunk-hec")?;
    }
    if !syslog {
        misplaced("--syslog", args.syslog.is_some(), "syslog")?;
    }
    match args.to {
        ExportTarget::Ecs => Ok(Destination::Ecs),
        ExportTarget::SplunkHec => {
            let url = args
                .url
                .clone()
                .expect("clap requires --url for splunk-hec");
            let path = url
                .split_once("://")
                .and_then(|(_, rest)| rest.split_once('/'))
                .map_or("", |(_, path)| path.trim_end_matches('/'));
            if !path.is_empty() {
                return Err(Failure::Input(format!(
                    "--url {url:?}: give the collector's base URL without a path \
                     (portreeve adds /services/collector/event)"
                )));
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(Failure::Input(format!(
                    "--url {url:?}: expected the collector's http:// or https:// base URL"
                )));
            }
            let ack = args.ack.then(|| AckOptions {
                channel: splunk_hec::new_channel(),
                timeout: Duration::try_from(args.ack_timeout).unwrap_or_default(),
                poll: Duration::from_millis(500),
            });
            Ok(Destination::Hec(HecOptions {
                url,
                token: token(args.token_file.as_deref())?,
                batch: args.batch as usize,
                timeout: TIMEOUT,
                retry: RetryPolicy {
                    retries: args.retries,
                    backoff: Duration::from_millis(200),
                    max_backoff: Duration::from_secs(10),
                },
                ack,
            }))
        }
        ExportTarget::Syslog => {
            let address = args
                .syslog
                .clone()
                .expect("clap requires --syslog for syslog");
            if address
                .rsplit_once(':')
                .is_none_or(|(_, port)| port.parse::<u16>().is_err())
            {
                return Err(Failure::Input(format!(
                    "--syslog {address:?}: expected HOST:PORT"
                )));
            }
            let facility = Facility::from_name(&args.facility).ok_or_else(|| {
                Failure::Input(format!(
                    "--facility {:?}: expected kern, user, daemon, auth, authpriv or local0 … local7",
                    args.facility
                ))
            })?;
            Ok(Destination::Syslog {
                format: SyslogFormat::for_this_host(facility),
                transport: match args.transport {
                    ExportTransport::Udp => SyslogTransport::Udp,
                    ExportTransport::Tcp => SyslogTransport::Tcp,
                },
                address,
            })
        }
    }
}

fn target_name(target: ExportTarget) -> &'static str {
    match target {
        ExportTarget::Ecs => "ecs",
        ExportTarget::SplunkHec => "splunk-hec",
        ExportTarget::Syslog => "syslog",
    }
}

/// The HEC token: the first line of `file`, else `$PORTREEVE_SPLUNK_TOKEN`.
fn token(file: Option<&Path>) -> Result<String, Failure> {
    let (token, from) = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::Input(format!(
                    "cannot read the token file {}: {e}",
                    path.display()
                ))
            })?;
            (
                text.lines().next().unwrap_or_default().trim().to_owned(),
                path.display().to_string(),
            )
        }
        None => (
            std::env::var(TOKEN_ENV)
                .unwrap_or_default()
                .trim()
                .to_owned(),
            format!("${TOKEN_ENV}"),
        ),
    };
    if token.is_empty() {
        return Err(Failure::Input(format!(
            "no Splunk HEC token: {from} is empty or unset (give --token-file FILE or set ${TOKEN_ENV})"
        )));
    }
    if token.chars().any(|c| c.is_control() || c == ' ') {
        return Err(Failure::Input(format!(
            "the Splunk HEC token in {from} contains spaces or control characters"
        )));
    }
    Ok(token)
}
