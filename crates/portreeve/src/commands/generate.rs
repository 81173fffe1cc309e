//! `portreeve completions` and `portreeve man`: generated from the clap
//! definition, so they never drift from the real interface. Both are
//! rendered in memory and written by [`emit`]: written straight to standard
//! output, clap_complete panics on a closed pipe (`portreeve completions
//! zsh | head`) and clap_mangen reports it as an error.

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

pub fn man(output: Option<&Path>) -> Result<u8, Failure> {
    let cmd = Cli::command();
    match output {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut page)
                .map_err(|e| Failure::Operational(format!("cannot render man page: {e}")))?;
            emit(&String::from_utf8_lossy(&page));
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .and_then(|()| clap_mangen::generate_to(cmd, dir))
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
