//! Recorded use from a file: JSON lines of [`SourceUse`], one per line, as
//! `usage --by-source --format json` lists them one by one. `recommend` and
//! `simulate` read it with `--usage FILE`, so a pipeline can judge a policy
//! against use recorded elsewhere (or generated, for a benchmark).

use std::path::Path;

use jiff::Timestamp;
use portreeve_core::SourceUse;

use crate::error::AppError;
use crate::state_dir::StateDir;

/// The use last seen at or after `since`: from `file` when given, else
/// what the agent recorded in `state`.
pub fn load(
    state: &StateDir,
    file: Option<&Path>,
    since: Timestamp,
) -> Result<Vec<SourceUse>, AppError> {
    let mut uses = match file {
        Some(path) => read(path)?,
        None => crate::usage::by_source(state, Some(since))?,
    };
    uses.retain(|u| u.last_seen >= since);
    Ok(uses)
}

/// Reads `path` (`-`: standard input): one JSON [`SourceUse`] a line; blank
/// lines are skipped. A line that is not one is an error naming its number.
pub fn read(path: &Path) -> Result<Vec<SourceUse>, AppError> {
    let text = crate::input::read_text(path, "usage file")
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    parse(&crate::input::origin(path), &text)
}

/// Parses JSON lines of [`SourceUse`]; `origin` names the text in errors.
pub fn parse(origin: &str, text: &str) -> Result<Vec<SourceUse>, AppError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| {
                AppError::Invalid(format!(
                    "{origin}:{}: not a recorded use (a JSON object with source, protocol, port, connections, first_seen, last_seen): {e}",
                    i + 1
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lines_and_names_the_bad_one() {
        let line = r#"{"source":"10.0.0.1/32","protocol":"tcp","port":22,"connections":3,"first_seen":"2026-12-01T00:00:00Z","last_seen":"2026-12-02T00:00:00Z"}"#;
        let uses = parse("u.jsonl", &format!("{line}\n\n{line}\n")).unwrap();
        assert_eq!(uses.len(), 2);
        assert_eq!(uses[0].port, 22);
        assert_eq!(uses[0].connections, 3);
        let err = parse("u.jsonl", &format!("{line}\n{{\"source\":1}}\n")).unwrap_err();
        assert!(
            err.to_string().starts_with("u.jsonl:2: not a recorded use"),
            "{err}"
        );
    }
}
