//! Text the database can store. PostgreSQL's TEXT cannot hold a NUL
//! character (SQLite's can), so pushed text holding one would be a 500 on
//! one database and stored on the other. It is the sender's mistake: the
//! push is refused (400) naming the field, before anything is written.

use std::fmt::Display;

use portreeve_fleet_protocol::Push;

/// Refuses the first of `fields` (each a name and its text, if any) whose
/// text holds a NUL, naming it as `{place}{name}`.
pub(crate) fn refuse_nul(
    place: impl Display,
    fields: &[(&str, Option<&str>)],
) -> Result<(), String> {
    match fields
        .iter()
        .find(|(_, text)| text.is_some_and(|t| t.contains('\0')))
    {
        Some((name, _)) => Err(format!(
            "{place}{name} holds a NUL character, which the server cannot store"
        )),
        None => Ok(()),
    }
}

/// Refuses a NUL in the text of the push's listeners, findings, drift and
/// ledger checkpoint. (Its lifecycle's text is one of a few words, checked
/// as such; its grants, blocks and policy report are checked with theirs.)
pub(crate) fn refuse_in_push(push: &Push) -> Result<(), String> {
    for (i, l) in push.listeners.iter().enumerate() {
        refuse_nul(
            format_args!("listeners[{i}]."),
            &[
                ("address", Some(l.address.as_str())),
                ("process", l.process.as_deref()),
                ("container", l.container.as_deref()),
            ],
        )?;
    }
    for (i, f) in push.findings.iter().enumerate() {
        refuse_nul(
            format_args!("findings[{i}]."),
            &[
                ("code", Some(f.code.as_str())),
                ("message", Some(f.message.as_str())),
                ("remediation", f.remediation.as_deref()),
            ],
        )?;
    }
    for (i, d) in push.drift.iter().enumerate() {
        refuse_nul(
            format_args!("drift[{i}]."),
            &[
                ("kind", Some(d.kind.as_str())),
                ("address", Some(d.address.as_str())),
                ("process", d.process.as_deref()),
            ],
        )?;
    }
    if let Some(checkpoint) = &push.ledger {
        refuse_nul("ledger.", &[("head", Some(checkpoint.head.as_str()))])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_field_holding_a_nul_is_named() {
        assert_eq!(refuse_nul("x.", &[("a", Some("ok")), ("b", None)]), Ok(()));
        assert_eq!(
            refuse_nul(
                format_args!("listeners[{}].", 2),
                &[("address", Some("::")), ("process", Some("ssh\0d"))]
            ),
            Err(
                "listeners[2].process holds a NUL character, which the server cannot store"
                    .to_owned()
            )
        );
    }
}
