//! The man pages. clap_mangen renders what the clap definition says (name,
//! synopsis, description, options, subcommands); this adds what it cannot
//! know — exit status, environment, files, examples and cross-references —
//! and the policy format's own page, portreeve-policy(5), which is written
//! by hand because the format is not part of the command line.

mod examples;

use std::io;

use clap::CommandFactory;
use clap_mangen::Man;

use crate::cli::Cli;
use crate::failure::{EXIT_FINDINGS, EXIT_INPUT, EXIT_OK, EXIT_OPERATIONAL};

/// One man page: its file name (`portreeve-check.1`) and its roff source.
pub struct Page {
    /// The file name, section included.
    pub file_name: String,
    /// The roff source.
    pub text: String,
}

/// The policy format's page.
const POLICY_PAGE: &str = include_str!("manual/portreeve-policy.5");

/// The command tree as clap_mangen builds it for its pages: built (so each
/// subcommand's display name is `portreeve-NAME`), without the `help`
/// subcommand.
fn program() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// portreeve(1).
pub fn root_page() -> io::Result<String> {
    command_page(&program(), None)
}

/// Every page: portreeve(1), one for each visible subcommand at every
/// level, and portreeve-policy(5).
pub fn pages() -> io::Result<Vec<Page>> {
    let mut pages = Vec::new();
    add_command_pages(&program(), None, &mut pages)?;
    pages.push(Page {
        file_name: "portreeve-policy.5".to_owned(),
        text: POLICY_PAGE.to_owned(),
    });
    Ok(pages)
}

fn add_command_pages(
    cmd: &clap::Command,
    parent: Option<&str>,
    pages: &mut Vec<Page>,
) -> io::Result<()> {
    let name = page_name(cmd);
    pages.push(Page {
        file_name: format!("{name}.1"),
        text: command_page(cmd, parent)?,
    });
    for sub in visible_subcommands(cmd) {
        add_command_pages(sub, Some(&name), pages)?;
    }
    Ok(())
}

/// The page's name: `portreeve`, `portreeve-check`, `portreeve-ledger-verify`.
fn page_name(cmd: &clap::Command) -> String {
    cmd.get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_owned()
}

fn visible_subcommands(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands().filter(|s| !s.is_hide_set())
}

/// A section-1 page: clap_mangen's sections, then ours. (The root
/// command's after-help text is left out: EXIT STATUS says it in full.)
fn command_page(cmd: &clap::Command, parent: Option<&str>) -> io::Result<String> {
    let name = page_name(cmd);
    let man = Man::new(cmd.clone());
    let mut roff = Vec::new();
    man.render_title(&mut roff)?;
    man.render_name_section(&mut roff)?;
    man.render_synopsis_section(&mut roff)?;
    man.render_description_section(&mut roff)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut roff)?;
    }
    if visible_subcommands(cmd).next().is_some() {
        man.render_subcommands_section(&mut roff)?;
    }
    let mut text = String::from_utf8(roff).map_err(io::Error::other)?;
    text.push_str(&exit_status());
    text.push_str(ENVIRONMENT);
    text.push_str(FILES);
    text.push_str(&examples::section(&name));
    text.push_str(&see_also(cmd, parent));
    if cmd.get_version().is_some() {
        let mut version = Vec::new();
        man.render_version_section(&mut version)?;
        text.push_str(&String::from_utf8(version).map_err(io::Error::other)?);
    }
    Ok(ascii(&text))
}

/// `roff` with every character outside ASCII written as groff's `\[uXXXX]`.
/// The help texts have dashes and ellipses; raw UTF-8 is an invalid input
/// character to troff unless something (man-db's preconv) converts it first.
fn ascii(roff: &str) -> String {
    let mut out = String::with_capacity(roff.len());
    for c in roff.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("\\[u{:04X}]", u32::from(c)));
        }
    }
    out
}

/// EXIT STATUS, from the codes the program really uses.
fn exit_status() -> String {
    format!(
        r#".SH "EXIT STATUS"
.TP
.B {EXIT_OK}
Success: no finding at or above \fB\-\-fail\-on\fR.
.TP
.B {EXIT_FINDINGS}
Findings at or above \fB\-\-fail\-on\fR; for \fBledger verify\fR, verification failed;
for \fBplan \-\-exit\-code\fR, the firewall would change.
.TP
.B {EXIT_INPUT}
Usage error or invalid input (an argument, a policy or another file); nothing was changed.
.TP
.B {EXIT_OPERATIONAL}
Operational error: the kernel, a file system or another program refused a request.
.PP
With \fB\-\-format nagios\fR, \fBcheck\fR exits with the plugin state instead
(0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
A reader closing the pipe early (\fB| head\fR) is not an error.
"#
    )
}

/// The environment variables portreeve reads.
const ENVIRONMENT: &str = r#".SH ENVIRONMENT
.TP
.B PORTREEVE_STATE_DIR
The state directory, when \fB\-\-state\-dir\fR is not given.
.TP
.B PORTREEVE_POLICY
A candidate policy file, when \fB\-\-policy\fR is not given. Set but empty means none.
.TP
.B PORTREEVE_IDENTITY
The identity that proposes or approves, when \fB\-\-identity\fR is not given.
.TP
.B PORTREEVE_IDENTITY_DIR
The directory of identities' private keys.
.TP
.B PORTREEVE_NFT
The \fBnft\fR program to run instead of the one on the \fBPATH\fR.
.TP
.B RUST_LOG
A log filter (\fBtracing\fR's syntax, e.g. \fBdebug\fR or \fBportreeve_scan=trace\fR);
it overrides \fB\-v\fR and \fB\-q\fR.
.TP
.BR NO_COLOR ", " CLICOLOR ", " CLICOLOR_FORCE
Whether tables and messages are coloured under \fB\-\-color auto\fR: \fBNO_COLOR\fR
(non-empty) or \fBCLICOLOR=0\fR turn colour off, \fBCLICOLOR_FORCE\fR turns it on.
.TP
.B JOURNAL_STREAM
Set by systemd: when standard error is that stream, \fB\-\-log\-format auto\fR
logs in the journal's own format.
.TP
.B DOCKER_HOST
A \fBunix://\fR socket to ask for container names instead of
\fI/var/run/docker.sock\fR (as the docker client reads it).
.TP
.B SUDO_USER
The person recorded as making a change when \fB\-\-as\fR is not given
(else the user who logged in).
.TP
.B SSH_CONNECTION
The SSH session \fBapply\fR must not cut off.
.TP
.BR XDG_DATA_HOME ", " XDG_CONFIG_HOME
Where state and configuration live when not running as root.
"#;

/// The files portreeve reads and writes.
const FILES: &str = r#".SH FILES
.TP
.I /etc/portreeve/policy.toml
The default policy file as root (else \fI$XDG_CONFIG_HOME/portreeve/policy.toml\fR);
see \fBportreeve\-policy\fR(5). With none, the built-in baseline applies.
.TP
.I /etc/portreeve/agent.toml
The agent's configuration (\fBportreeve agent \-\-config\fR).
.TP
.I ~/.config/portreeve/identities/
Identities' private keys (\fI$XDG_CONFIG_HOME\fR's; under sudo, the sudo user's, owned by them).
.TP
.I /var/lib/portreeve/
The state directory as root (else \fI$XDG_DATA_HOME/portreeve/\fR):
the policy in effect, ruleset generations, grants, the ledger, the agent's store.
"#;

/// SEE ALSO: the program's page, the parent's, the subcommands', and the
/// policy format.
fn see_also(cmd: &clap::Command, parent: Option<&str>) -> String {
    let mut refs: Vec<(String, char)> = Vec::new();
    if let Some(parent) = parent {
        refs.push(("portreeve".to_owned(), '1'));
        if parent != "portreeve" {
            refs.push((parent.to_owned(), '1'));
        }
    }
    refs.extend(visible_subcommands(cmd).map(|sub| (page_name(sub), '1')));
    refs.push(("portreeve-policy".to_owned(), '5'));
    // Left-aligned: justified, a list of long names is mostly spaces.
    let mut text = String::from(".SH \"SEE ALSO\"\n.ad l\n");
    for (i, (name, section)) in refs.iter().enumerate() {
        let comma = if i + 1 < refs.len() { "," } else { "" };
        // \% keeps groff from hyphenating the name across lines.
        text.push_str(&format!(".BR \\%{} ({section}){comma}\n", escape(name)));
    }
    text
}

/// `text` as roff prints it literally: backslashes and hyphens escaped (a
/// bare `-` may be set as a hyphen, which breaks copied command lines).
fn escape(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}
