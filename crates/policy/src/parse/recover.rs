//! Reading the TOML document into the `Raw*` structs while collecting every
//! error serde finds, not just the first.
//!
//! Serde gives up at the first unknown key, wrong type or missing field. To
//! go on, the text is parsed once into toml's spanned tree and then
//! deserialised from it again and again: each time serde fails, its error
//! is recorded and the item it points into is cut from the tree, so the
//! next attempt gets past it. Every attempt cuts an item, so this ends. The
//! raw policy of what is left goes on to validation, which checks the
//! values themselves.
//!
//! A TOML syntax error still stops everything: past it the text cannot be
//! read reliably.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::de::{DeArray, DeTable, DeValue, Deserializer};

use crate::error::ErrorSink;

/// The most serde errors collected from one file. Past this the file is
/// hardly a policy, and each further error costs another pass.
const MAX_ERRORS: usize = 100;

/// Why unknown keys are refused, for every unknown-key hint.
const UNKNOWN_KEYS_REFUSED: &str = "unknown fields are errors so a typo never silently weakens a policy; see docs/policy.md for every field";

/// Deserialises `source` into `T`, recording in `sink` every error serde
/// finds. Returns what could be read once the offending items are cut, or
/// `None` after a syntax error or an error that cannot be cut out.
pub(super) fn read_collecting<T: DeserializeOwned>(
    source: &str,
    sink: &mut ErrorSink<'_>,
) -> Option<T> {
    let mut tree = match DeTable::parse(source) {
        Ok(tree) => tree,
        Err(e) => {
            sink.push(e.span().unwrap_or(0..0), e.message().trim_end(), None);
            return None;
        }
    };
    for _ in 0..MAX_ERRORS {
        let error = match T::deserialize(Deserializer::from(tree.clone())) {
            Ok(raw) => return Some(raw),
            Err(e) => e,
        };
        let span = error.span().unwrap_or(0..0);
        let (message, hint) = explain(error.message().trim_end());
        sink.push(span.clone(), message, hint);
        let root = tree.span();
        let cut = cut(tree.get_mut(), root, &span)?;
        sink.mark_cut(cut.item, cut.table);
    }
    None
}

/// An item cut from the document.
struct Cut {
    /// The key for an unknown key, else the value.
    item: Range<usize>,
    /// The table or array it was cut from.
    table: Range<usize>,
}

/// Cuts the innermost item of `table` (whose span is `table_span`) that
/// holds `span`: an entry (by its key or its value) or an array element,
/// at any depth.
///
/// Every level is searched, not only the values whose span holds `span`:
/// a table opened by a `[header]` spans just its header, not its keys.
fn cut(table: &mut DeTable<'_>, table_span: Range<usize>, span: &Range<usize>) -> Option<Cut> {
    for (_, value) in table.iter_mut() {
        let value_span = value.span();
        if let Some(inner) = cut_within(value.get_mut(), value_span, span) {
            return Some(inner);
        }
    }
    let (key_span, cut_span) = table.iter().find_map(|(key, value)| {
        if contains(&key.span(), span) {
            Some((key.span(), key.span()))
        } else {
            contains(&value.span(), span).then(|| (key.span(), value.span()))
        }
    })?;
    *table = std::mem::take(table)
        .into_iter()
        .filter(|(k, _)| k.span() != key_span)
        .collect();
    Some(Cut {
        item: cut_span,
        table: table_span,
    })
}

/// [`cut`] inside a value (spanning `value_span`), if it is a table or an
/// array.
fn cut_within(
    value: &mut DeValue<'_>,
    value_span: Range<usize>,
    span: &Range<usize>,
) -> Option<Cut> {
    match value {
        DeValue::Table(table) => cut(table, value_span, span),
        DeValue::Array(array) => cut_element(array, value_span, span),
        _ => None,
    }
}

/// Cuts what [`cut_within`] finds inside an element of `array`, else the
/// element holding `span`.
fn cut_element(
    array: &mut DeArray<'_>,
    array_span: Range<usize>,
    span: &Range<usize>,
) -> Option<Cut> {
    for element in array.as_mut() {
        let element_span = element.span();
        if let Some(inner) = cut_within(element.get_mut(), element_span, span) {
            return Some(inner);
        }
    }
    let index = array.iter().position(|e| contains(&e.span(), span))?;
    let element_span = array[index].span();
    let kept: DeArray<'_> = std::mem::replace(array, DeArray::new())
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != index)
        .map(|(_, e)| e)
        .collect();
    *array = kept;
    Some(Cut {
        item: element_span,
        table: array_span,
    })
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

/// A serde error message as the user should read it, and a hint.
fn explain(message: &str) -> (String, Option<String>) {
    if let Some((unknown, expected)) = unknown_field(message) {
        let hint = match closest(&unknown, &expected) {
            Some(name) => format!("did you mean `{name}`? ({UNKNOWN_KEYS_REFUSED})"),
            None if expected.is_empty() => UNKNOWN_KEYS_REFUSED.to_string(),
            None => format!(
                "this table takes {}; {UNKNOWN_KEYS_REFUSED}",
                expected
                    .iter()
                    .map(|e| format!("`{e}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        return (format!("unknown field `{unknown}`"), Some(hint));
    }
    let hint = if ["finding", "owner", "reason", "expires"]
        .iter()
        .any(|f| message.starts_with(&format!("missing field `{f}`")))
    {
        Some("every [[accepted_risk]] names its finding, owner, reason and expires".to_string())
    } else if message.starts_with("missing field `protocol`") {
        Some(
            r#"every rule names its protocol: protocol = "tcp", "udp" or ["tcp", "udp"]"#
                .to_string(),
        )
    } else {
        None
    };
    (message.to_string(), hint)
}

/// The key and the expected keys of serde's "unknown field `x`, expected
/// one of `a`, `b`" (or "expected `a` or `b`", or "there are no fields").
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, rest) = rest.split_once('`')?;
    let expected = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((unknown.to_string(), expected))
}

/// The expected key `written` most likely misspells: at most two edits
/// away (a swap of neighbours counts as one), or the same but for case.
pub(super) fn closest<'a>(written: &str, expected: &'a [String]) -> Option<&'a str> {
    expected
        .iter()
        .map(|e| {
            let distance = if e.eq_ignore_ascii_case(written) {
                0
            } else {
                strsim::osa_distance(e, written)
            };
            (distance, e.as_str())
        })
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, e)| e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_name_what_they_probably_meant() {
        let (message, hint) =
            explain("unknown field `versoin`, expected one of `version`, `defaults`, `zones`");
        assert_eq!(message, "unknown field `versoin`");
        assert!(hint.unwrap().starts_with("did you mean `version`?"));
        let (_, hint) = explain("unknown field `colour`, expected `name` or `port`");
        assert!(
            hint.unwrap()
                .starts_with("this table takes `name`, `port`;")
        );
        let (_, hint) = explain("unknown field `x`, there are no fields");
        assert_eq!(hint.as_deref(), Some(UNKNOWN_KEYS_REFUSED));
    }

    #[test]
    fn closest_takes_swaps_and_case_and_refuses_strangers() {
        let keys = ["owner".to_string(), "zones".to_string()];
        assert_eq!(closest("owners", &keys), Some("owner"));
        assert_eq!(closest("zoens", &keys), Some("zones"));
        assert_eq!(closest("ZONES", &keys), Some("zones"));
        assert_eq!(closest("limits", &keys), None);
    }

    #[test]
    fn cutting_removes_the_innermost_item_holding_the_span() {
        let src = "a = 1\n[t]\nb = [1, 2]\n";
        let mut tree = DeTable::parse(src).unwrap();
        let root = tree.span();
        let two = src.find('2').unwrap();
        let cut_two = cut(tree.get_mut(), root.clone(), &(two..two + 1)).unwrap();
        assert_eq!(cut_two.item, two..two + 1);
        assert_eq!(&src[cut_two.table], "[1, 2]");
        let b = tree.get_ref()["t"].get_ref()["b"].get_ref();
        assert_eq!(b.as_array().unwrap().len(), 1);
        let a = 0..1;
        let cut_a = cut(tree.get_mut(), root.clone(), &a).unwrap();
        assert_eq!((cut_a.item, cut_a.table), (a, root));
        assert!(tree.get_ref().get("a").is_none());
    }
}
