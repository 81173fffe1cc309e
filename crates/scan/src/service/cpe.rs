//! CPE 2.3 names (NISTIR 7695, formatted-string binding) for identified
//! products.

/// `cpe:2.3:a:VENDOR:PRODUCT:VERSION:*:*:*:*:*:*:*`; an unknown version is
/// `*` (any).
pub(crate) fn application(vendor: &str, product: &str, version: Option<&str>) -> String {
    format!(
        "cpe:2.3:a:{}:{}:{}:*:*:*:*:*:*:*",
        component(vendor),
        component(product),
        version.map_or_else(|| "*".to_string(), component)
    )
}

/// One component in the formatted-string binding: lower case, and every
/// character other than letters, digits, `.`, `-` and `_` escaped with a
/// backslash.
fn component(s: &str) -> String {
    if s.is_empty() {
        return "-".to_string();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_graphic() {
            out.push('\\');
            out.push(c);
        } else {
            // Spaces and non-ASCII have no place in a CPE component.
            out.push('_');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            application("openbsd", "openssh", Some("9.2p1")),
            "cpe:2.3:a:openbsd:openssh:9.2p1:*:*:*:*:*:*:*"
        );
        assert_eq!(
            application("f5", "nginx", Some("1.22.1")),
            "cpe:2.3:a:f5:nginx:1.22.1:*:*:*:*:*:*:*"
        );
        assert_eq!(
            application("apache", "kafka", None),
            "cpe:2.3:a:apache:kafka:*:*:*:*:*:*:*:*"
        );
        assert_eq!(
            application("x", "y", Some("1.0+deb:1 é")),
            "cpe:2.3:a:x:y:1.0\\+deb\\:1__:*:*:*:*:*:*:*"
        );
        assert_eq!(
            application("x", "y", Some("")),
            "cpe:2.3:a:x:y:-:*:*:*:*:*:*:*"
        );
    }
}
