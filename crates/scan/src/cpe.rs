//! CPE names (NISTIR 7695) of identified products.
//!
//! The model holds CPE 2.3 formatted strings (`cpe:2.3:a:openbsd:openssh:
//! 9.2p1:*:*:*:*:*:*:*`), which service identification builds for the
//! products it recognises. nmap's XML carries the older CPE 2.2 URI binding
//! (`cpe:/a:openbsd:openssh:9.2p1`): [`cpe23_to_uri`] and [`cpe_uri_to_23`]
//! convert between the two, following the standard's binding rules, so
//! that a CPE survives a round trip through nmap's format.

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

/// The 2.3 formatted-string attributes after `cpe:2.3:`, in order.
const CPE23_FIELDS: usize = 11;

/// Converts a CPE 2.3 formatted string (`cpe:2.3:a:openbsd:openssh:9.2p1:*:…`)
/// to the CPE 2.2 URI nmap writes (`cpe:/a:openbsd:openssh:9.2p1`), following
/// NISTIR 7695's binding rules: ANY is empty, NA is `-`, the extended
/// attributes are packed into the edition with `~`, other punctuation is
/// percent-encoded, and trailing empty components are dropped. `None` when
/// `cpe` is not a 2.3 formatted string.
pub fn cpe23_to_uri(cpe: &str) -> Option<String> {
    let rest = cpe.strip_prefix("cpe:2.3:")?;
    let mut fields = split_fs(rest);
    if fields.is_empty() || fields.len() > CPE23_FIELDS {
        return None;
    }
    fields.resize(CPE23_FIELDS, "*".to_string());
    let uri: Vec<String> = fields.iter().map(|f| fs_value_to_uri(f)).collect();
    // part vendor product version update edition language | sw_edition
    // target_sw target_hw other
    let mut comps: Vec<String> = uri[..5].to_vec();
    let extended = &uri[7..11];
    if extended.iter().any(|v| !v.is_empty()) {
        comps.push(format!(
            "~{}~{}~{}~{}~{}",
            uri[5], extended[0], extended[1], extended[2], extended[3]
        ));
    } else {
        comps.push(uri[5].clone());
    }
    comps.push(uri[6].clone());
    while comps.len() > 1 && comps.last().is_some_and(|c| c.is_empty()) {
        comps.pop();
    }
    Some(format!("cpe:/{}", comps.join(":")))
}

/// Converts a CPE 2.2 URI (`cpe:/a:openbsd:openssh:9.2p1`) to a CPE 2.3
/// formatted string (`cpe:2.3:a:openbsd:openssh:9.2p1:*:*:*:*:*:*:*`),
/// unpacking a `~`-packed edition. `None` when `cpe` is not a 2.2 URI.
pub fn cpe_uri_to_23(cpe: &str) -> Option<String> {
    let rest = cpe.strip_prefix("cpe:/")?;
    let comps: Vec<&str> = rest.split(':').collect();
    if comps.len() > 7
        || comps
            .iter()
            .any(|c| c.contains(|c: char| c.is_whitespace()))
    {
        return None;
    }
    let mut fields: Vec<String> = Vec::with_capacity(CPE23_FIELDS);
    for (i, c) in comps.iter().enumerate() {
        if i == 5 && c.starts_with('~') {
            let packed: Vec<&str> = c[1..].split('~').collect();
            if packed.len() != 5 {
                return None;
            }
            fields.push(uri_value_to_fs(packed[0])?);
            fields.push(uri_value_to_fs(comps.get(6).copied().unwrap_or(""))?);
            for p in &packed[1..] {
                fields.push(uri_value_to_fs(p)?);
            }
            break;
        }
        fields.push(uri_value_to_fs(c)?);
    }
    fields.resize(CPE23_FIELDS, "*".to_string());
    Some(format!("cpe:2.3:{}", fields.join(":")))
}

/// Splits a formatted string on unescaped colons.
fn split_fs(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let last = out.last_mut().expect("never empty");
                last.push('\\');
                if let Some(n) = chars.next() {
                    last.push(n);
                }
            }
            ':' => out.push(String::new()),
            c => out.last_mut().expect("never empty").push(c),
        }
    }
    out
}

fn fs_value_to_uri(v: &str) -> String {
    match v {
        "*" | "" => return String::new(),
        "-" => return "-".to_string(),
        _ => {}
    }
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    pct_push(&mut out, n);
                }
            }
            '?' => out.push_str("%01"),
            '*' => out.push_str("%02"),
            c => pct_push(&mut out, c),
        }
    }
    out
}

fn pct_push(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
        out.push(c);
    } else {
        let mut buf = [0u8; 4];
        for b in c.encode_utf8(&mut buf).bytes() {
            out.push_str(&format!("%{b:02x}"));
        }
    }
}

fn uri_value_to_fs(v: &str) -> Option<String> {
    match v {
        "" => return Some("*".to_string()),
        "-" => return Some("-".to_string()),
        _ => {}
    }
    let bytes = v.as_bytes();
    let mut decoded: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut wild: Vec<bool> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = v.get(i + 1..i + 3)?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let b = u8::from_str_radix(hex, 16).ok()?;
            match b {
                1 => {
                    decoded.push(b'?');
                    wild.push(true);
                }
                2 => {
                    decoded.push(b'*');
                    wild.push(true);
                }
                b => {
                    decoded.push(b);
                    wild.push(false);
                }
            }
            i += 3;
        } else {
            decoded.push(bytes[i]);
            wild.push(false);
            i += 1;
        }
    }
    let text = String::from_utf8(decoded).ok()?;
    let mut out = String::new();
    let mut byte = 0;
    for c in text.chars() {
        let is_wild = wild.get(byte).copied().unwrap_or(false);
        byte += c.len_utf8();
        if is_wild || c.is_alphanumeric() || matches!(c, '_' | '.' | '-') {
            out.push(c);
        } else {
            out.push('\\');
            out.push(c);
        }
    }
    Some(out)
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

    #[test]
    fn converts_cpe_between_2_3_and_2_2() {
        let cases = [
            (
                "cpe:2.3:a:openbsd:openssh:9.2p1:*:*:*:*:*:*:*",
                "cpe:/a:openbsd:openssh:9.2p1",
            ),
            (
                "cpe:2.3:o:linux:linux_kernel:*:*:*:*:*:*:*:*",
                "cpe:/o:linux:linux_kernel",
            ),
            (
                "cpe:2.3:a:apache:http_server:2.4.57:-:*:*:*:*:*:*",
                "cpe:/a:apache:http_server:2.4.57:-",
            ),
            (
                "cpe:2.3:a:microsoft:sql_server:2019:*:*:*:express:*:x64:*",
                "cpe:/a:microsoft:sql_server:2019::~~express~~x64~",
            ),
            (
                "cpe:2.3:a:hp:openview_network_manager:7.51:*:*:*:*:linux:*:*",
                "cpe:/a:hp:openview_network_manager:7.51::~~~linux~~",
            ),
            (
                "cpe:2.3:a:foo\\!bar:baz:1.0:*:*:*:*:*:*:*",
                "cpe:/a:foo%21bar:baz:1.0",
            ),
        ];
        for (fs, uri) in cases {
            assert_eq!(cpe23_to_uri(fs).as_deref(), Some(uri), "{fs}");
            assert_eq!(cpe_uri_to_23(uri).as_deref(), Some(fs), "{uri}");
        }
        assert_eq!(cpe23_to_uri("cpe:/a:x:y"), None);
        assert_eq!(cpe_uri_to_23("cpe:2.3:a:x:y"), None);
        assert_eq!(cpe_uri_to_23("cpe:/a:x:y:%zz"), None);
    }
}
