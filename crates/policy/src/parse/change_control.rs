//! The `[change_control]` table: how many people must approve a policy
//! change before `apply --require-approval` installs it.

use serde::Deserialize;
use toml::Spanned;

use super::{Validator, Whole};
use crate::model::ChangeControl;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChangeControl {
    approvals: Option<Spanned<Whole>>,
    self_approval: Option<bool>,
}

impl Validator<'_, '_> {
    pub(super) fn change_control(&mut self, raw: Option<RawChangeControl>) -> ChangeControl {
        let mut c = ChangeControl::default();
        let Some(raw) = raw else { return c };
        if let Some(v) = &raw.approvals {
            c.approvals = self.whole_in(v, 1, 10, "approvals").unwrap_or(c.approvals);
        }
        if let Some(b) = raw.self_approval {
            c.self_approval = b;
        }
        c
    }
}
