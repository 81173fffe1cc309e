//! The server software a greeting names. FTP, SMTP, POP3 and IMAP servers
//! announce themselves in free text (`220 (vsFTPd 3.0.3)`, `+OK Dovecot
//! ready.`), so each of those parsers keeps a table of the products it
//! knows and looks them up here, in one way.

use crate::cpe;
use crate::model::ServiceInfo;

use super::parse::{contains_ci, leading_version};
use super::reply::word_after;

/// A product a greeting may name, written as a table entry:
/// `Known::new("exim", "Exim smtpd").cpe("exim", "exim").version_after("exim")`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Known {
    /// Text that names the product, matched ignoring ASCII case.
    needle: &'static str,
    /// The product, as nmap names it.
    product: &'static str,
    /// CPE vendor and product, where the product has a CPE name.
    cpe: Option<(&'static str, &'static str)>,
    /// The version is the word after this text (ignoring ASCII case); `None`
    /// when the product's greeting does not carry it.
    version_after: Option<&'static str>,
}

impl Known {
    /// `product`, named by `needle` in a greeting; no CPE, no version.
    pub(crate) const fn new(needle: &'static str, product: &'static str) -> Known {
        Known {
            needle,
            product,
            cpe: None,
            version_after: None,
        }
    }

    /// The text that names the product.
    pub(crate) const fn needle(&self) -> &'static str {
        self.needle
    }

    /// The product's CPE vendor and product.
    pub(crate) const fn cpe(self, vendor: &'static str, product: &'static str) -> Known {
        Known {
            cpe: Some((vendor, product)),
            ..self
        }
    }

    /// The version is the word after `text`.
    pub(crate) const fn version_after(self, text: &'static str) -> Known {
        Known {
            version_after: Some(text),
            ..self
        }
    }
}

/// Sets the product, version and CPE of the first of `known` (in order)
/// that `text` names. False, leaving `info` as it was, when it names none.
pub(crate) fn name(info: &mut ServiceInfo, text: &str, known: &[Known]) -> bool {
    let Some(k) = known
        .iter()
        .find(|k| contains_ci(text.as_bytes(), k.needle.as_bytes()))
    else {
        return false;
    };
    let version = k
        .version_after
        .and_then(|w| word_after(text, w))
        .and_then(leading_version);
    info.product = Some(k.product.into());
    info.version = version.map(str::to_string);
    info.cpe = k.cpe.map(|(v, p)| cpe::application(v, p, version));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[Known] = &[
        Known::new("exim", "Exim smtpd")
            .cpe("exim", "exim")
            .version_after("exim"),
        Known::new("microsoft", "Microsoft ESMTP"),
    ];

    #[test]
    fn the_first_product_named_wins_and_brings_its_version() {
        let mut info = ServiceInfo::default();
        assert!(name(&mut info, "mx ESMTP Exim 4.96; Microsoft", KNOWN));
        assert_eq!(info.product.as_deref(), Some("Exim smtpd"));
        assert_eq!(info.version.as_deref(), Some("4.96"));
        assert_eq!(
            info.cpe.as_deref(),
            Some("cpe:2.3:a:exim:exim:4.96:*:*:*:*:*:*:*")
        );
        let mut ms = ServiceInfo::default();
        assert!(name(&mut ms, "Microsoft ESMTP MAIL Service 10.0", KNOWN));
        assert_eq!((ms.version, ms.cpe), (None, None));
        let mut none = ServiceInfo::default();
        assert!(!name(&mut none, "ESMTP ready", KNOWN));
        assert_eq!(none, ServiceInfo::default());
    }
}
