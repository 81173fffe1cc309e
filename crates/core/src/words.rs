//! Values in words for messages and logs, where a `{:?}` would show Rust's
//! own shapes (`[…]`, `Some(…)`) to people.

use std::fmt::Display;

/// `items` joined with `, `, or `empty` when there are none (`none`, or
/// `any` where an empty list means no limit).
pub fn listed<T: Display>(items: &[T], empty: &str) -> String {
    if items.is_empty() {
        return empty.to_string();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The value, or `none`.
pub fn or_none<T: Display>(value: Option<T>) -> String {
    value.map_or_else(|| "none".to_string(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_options_read_as_words() {
        assert_eq!(listed(&[1, 2], "none"), "1, 2");
        assert_eq!(listed::<u8>(&[], "any"), "any");
        assert_eq!(or_none(Some("a")), "a");
        assert_eq!(or_none::<&str>(None), "none");
    }
}
