//! Output formats. Each renders to a `String`; [`emit`] writes it.

pub mod json;
pub mod nagios;
pub mod sarif;
pub mod table;

use std::io::Write;

/// Writes `text` to standard output. A closed pipe (`portreeve … | head`) is
/// not an error worth a panic or a message.
pub fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// `value` as pretty JSON with a trailing newline.
pub fn to_json<T: serde::Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("portreeve's documents serialise");
    s.push('\n');
    s
}
