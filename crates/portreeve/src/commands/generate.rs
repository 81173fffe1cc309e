//! `portreeve completions` and `portreeve man`: generated from the clap
//! definition, so they never drift from the real interface.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::failure::{EXIT_OK, Failure};

pub fn completions(shell: Shell) -> Result<u8, Failure> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "portreeve", &mut std::io::stdout());
    Ok(EXIT_OK)
}

pub fn man(output: Option<&Path>) -> Result<u8, Failure> {
    let cmd = Cli::command();
    match output {
        None => {
            clap_mangen::Man::new(cmd)
                .render(&mut std::io::stdout())
                .map_err(|e| Failure::Operational(format!("cannot write man page: {e}")))?;
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
