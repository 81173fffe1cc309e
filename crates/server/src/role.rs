//! Roles and what each may do: the one table the API's authorisation reads.

use std::fmt;
use std::str::FromStr;

/// What a token's holder is for. Stored by [`Role::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, including managing tokens.
    Admin,
    /// Reads the fleet, changes hosts (grants, blocks) and proposes policy.
    Operator,
    /// Reads the fleet and approves proposed policy (the second person).
    Approver,
    /// Reads the fleet.
    Viewer,
    /// Enrolls one agent; reads nothing.
    Enroll,
}

/// One thing a request may ask to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read hosts, listeners, findings, lifecycle, drift and checkpoints.
    ReadFleet,
    /// Grant, block and apply on hosts.
    OperateFleet,
    /// Propose a fleet policy.
    ProposePolicy,
    /// Approve a fleet policy someone else proposed.
    ApprovePolicy,
    /// Enroll an agent as a new host.
    EnrollHost,
    /// Create, list and revoke tokens.
    ManageTokens,
}

/// Which role holds which permission. Every authorisation decision reads
/// this table and nothing else.
const GRANTS: &[(Role, &[Permission])] = {
    use Permission::*;
    &[
        (
            Role::Admin,
            &[
                ReadFleet,
                OperateFleet,
                ProposePolicy,
                ApprovePolicy,
                EnrollHost,
                ManageTokens,
            ],
        ),
        (Role::Operator, &[ReadFleet, OperateFleet, ProposePolicy]),
        (Role::Approver, &[ReadFleet, ApprovePolicy]),
        (Role::Viewer, &[ReadFleet]),
        (Role::Enroll, &[EnrollHost]),
    ]
};

impl Role {
    /// Every role, in the order `--help` and the docs list them.
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Operator,
        Role::Approver,
        Role::Viewer,
        Role::Enroll,
    ];

    /// The role's name on the command line, in JSON and in the database.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::Viewer => "viewer",
            Role::Enroll => "enroll",
        }
    }

    /// Whether this role may do `permission`.
    pub fn may(self, permission: Permission) -> bool {
        GRANTS
            .iter()
            .any(|(role, granted)| *role == self && granted.contains(&permission))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a role: use admin, operator, approver, viewer or enroll")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::Permission::*;
    use super::*;

    #[test]
    fn each_role_holds_exactly_its_permissions() {
        let all = [
            ReadFleet,
            OperateFleet,
            ProposePolicy,
            ApprovePolicy,
            EnrollHost,
            ManageTokens,
        ];
        let expected: [(Role, &[Permission]); 5] = [
            (Role::Admin, &all),
            (Role::Operator, &[ReadFleet, OperateFleet, ProposePolicy]),
            (Role::Approver, &[ReadFleet, ApprovePolicy]),
            (Role::Viewer, &[ReadFleet]),
            (Role::Enroll, &[EnrollHost]),
        ];
        for (role, held) in expected {
            for permission in all {
                assert_eq!(
                    role.may(permission),
                    held.contains(&permission),
                    "{role} {permission:?}"
                );
            }
        }
    }

    #[test]
    fn only_the_approver_and_admin_approve_and_enroll_tokens_read_nothing() {
        let approvers: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| r.may(ApprovePolicy))
            .collect();
        assert_eq!(approvers, [Role::Admin, Role::Approver]);
        assert!(!Role::Enroll.may(ReadFleet));
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for role in Role::ALL {
            assert_eq!(role.name().parse::<Role>(), Ok(role));
        }
        assert_eq!(
            "Admin".parse::<Role>(),
            Err(UnknownRole("Admin".to_owned()))
        );
        assert!(
            "root"
                .parse::<Role>()
                .unwrap_err()
                .to_string()
                .contains("viewer")
        );
    }
}
