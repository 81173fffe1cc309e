//! Files an operator names: a path, or `-` for standard input, as every
//! Unix tool that reads a file accepts (`cat policy.toml | portreeve policy
//! validate -`). Every file a front end reads on an operator's behalf —
//! policies, saved inventories, nmap XML, captures, bundles — goes through
//! here, so `-` works everywhere and every error names what it could not
//! read: the path, or "standard input".

use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// The name that means standard input.
pub const STDIN: &str = "-";

/// Set once standard input has been taken: a second `-` in one command
/// (`--policy - --inventory -`) would silently read nothing.
static STDIN_TAKEN: AtomicBool = AtomicBool::new(false);

/// A file that could not be read, with a message naming it.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {what} {name}: {reason}")]
pub struct InputError {
    what: String,
    name: String,
    reason: String,
}

/// Whether `path` means standard input.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == STDIN
}

/// How `path` is named in messages, findings and records: `<stdin>` for
/// standard input, else the path as given.
pub fn origin(path: &Path) -> String {
    if is_stdin(path) {
        "<stdin>".into()
    } else {
        path.display().to_string()
    }
}

/// How `path` is named after "cannot read {what}".
fn name(path: &Path) -> String {
    if is_stdin(path) {
        "from standard input".into()
    } else {
        path.display().to_string()
    }
}

/// Opens `path` (or standard input for `-`) for streaming; `what` says
/// what the file is in the error ("policy file", "bundle").
pub fn open(path: &Path, what: &str) -> Result<Box<dyn Read>, InputError> {
    let failed = |reason: String| InputError {
        what: what.into(),
        name: name(path),
        reason,
    };
    if is_stdin(path) {
        if STDIN_TAKEN.swap(true, Ordering::SeqCst) {
            return Err(failed(
                "standard input was already read for another `-`".into(),
            ));
        }
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    let file = std::fs::File::open(path).map_err(|e| failed(e.to_string()))?;
    Ok(Box::new(file))
}

/// Reads all of `path` (or standard input for `-`).
pub fn read(path: &Path, what: &str) -> Result<Vec<u8>, InputError> {
    let mut bytes = Vec::new();
    open(path, what)?
        .read_to_end(&mut bytes)
        .map_err(|e| InputError {
            what: what.into(),
            name: name(path),
            reason: e.to_string(),
        })?;
    Ok(bytes)
}

/// Reads all of `path` (or standard input for `-`) as UTF-8 text.
pub fn read_text(path: &Path, what: &str) -> Result<String, InputError> {
    String::from_utf8(read(path, what)?).map_err(|e| InputError {
        what: what.into(),
        name: name(path),
        reason: format!("not UTF-8: {}", e.utf8_error()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_is_named_as_such_and_files_by_path() {
        assert_eq!(origin(Path::new("-")), "<stdin>");
        assert_eq!(origin(Path::new("./-x")), "./-x");
        let e = read(Path::new("/nonexistent/p.toml"), "policy file").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read policy file /nonexistent/p.toml: "),
            "{e}"
        );
    }

    #[test]
    fn text_that_is_not_utf8_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad");
        std::fs::write(&path, b"\xff\xfe").unwrap();
        let e = read_text(&path, "inventory").unwrap_err().to_string();
        assert!(e.contains("bad") && e.contains("not UTF-8"), "{e}");
    }
}
