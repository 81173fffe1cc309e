//! The `[change_control]` table: whether policy changes need approval, how
//! many people must approve, and for how long an approval counts.

use jiff::SignedDuration;
use serde::Deserialize;
use toml::Spanned;

use super::{Validator, Whole, parse_duration};
use crate::model::ChangeControl;

/// The shortest and longest `approval_valid_for`: shorter than a minute
/// cannot be acted on, longer than a year is no expiry at all.
const VALIDITY: (SignedDuration, SignedDuration) = (
    SignedDuration::from_secs(60),
    SignedDuration::from_hours(366 * 24),
);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChangeControl {
    required: Option<bool>,
    approvals: Option<Spanned<Whole>>,
    self_approval: Option<bool>,
    approval_valid_for: Option<Spanned<String>>,
}

impl Validator<'_, '_> {
    pub(super) fn change_control(&mut self, raw: Option<RawChangeControl>) -> ChangeControl {
        let mut c = ChangeControl::default();
        let Some(raw) = raw else { return c };
        if let Some(b) = raw.required {
            c.required = b;
        }
        if let Some(v) = &raw.approvals {
            c.approvals = self.whole_in(v, 1, 10, "approvals").unwrap_or(c.approvals);
        }
        if let Some(b) = raw.self_approval {
            c.self_approval = b;
        }
        if let Some(v) = &raw.approval_valid_for {
            match parse_duration(v.get_ref()) {
                Some(d) if d >= VALIDITY.0 && d <= VALIDITY.1 => c.approval_valid_for = d,
                Some(_) => self.error(
                    v.span(),
                    format!("approval_valid_for `{}` is out of range", v.get_ref()),
                    Some("an approval may count from 1 minute to 366 days, e.g. \"7d\"".into()),
                ),
                None => self.error(
                    v.span(),
                    format!("approval_valid_for `{}` is not a duration", v.get_ref()),
                    Some("write a duration such as \"12h\", \"7d\" or \"30d\"".into()),
                ),
            }
        }
        c
    }
}
