//! `portreeve completions` and `portreeve man`: generated from the clap
//! definition, so they never drift from the real interface. Both are
//! rendered in memory and written by [`emit`]: written straight to standard
//! output, clap_complete panics on a closed pipe (`portreeve completions
//! zsh | head`) and clap_mangen reports it as an error.

mod manual;

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::failure::{EXIT_OK, Failure};
use crate::output::emit;

pub fn completions(shell: Shell) -> Result<u8, Failure> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "portreeve", &mut script);
    emit(&String::from_utf8_lossy(&script));
    Ok(EXIT_OK)
}

/// Prints portreeve(1), or writes every page — portreeve(1), one page per
/// subcommand and portreeve-policy(5) — into `output`.
pub fn man(output: Option<&Path>) -> Result<u8, Failure> {
    let render_failed =
        |e: std::io::Error| Failure::Operational(format!("cannot render man page: {e}"));
    match output {
        None => emit(&manual::root_page().map_err(render_failed)?),
        Some(dir) => {
            let pages = manual::pages().map_err(render_failed)?;
            std::fs::create_dir_all(dir)
                .and_then(|()| {
                    pages
                        .iter()
                        .try_for_each(|page| std::fs::write(dir.join(&page.file_name), &page.text))
                })
                .map_err(|e| {
                    Failure::Operational(format!(
                        "cannot write man pages to {}: {e}",
                        dir.display()
                    ))
                })?;
        }
    }
    Ok(EXIT_OK)
}
