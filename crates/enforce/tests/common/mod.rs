//! The soundness tests' oracle: random policies described independently of
//! portreeve ([`Model`]), written out as policy files, and a naive
//! interpreter of what they mean ([`Model::decide`]); and the same question
//! asked of every form the compiled ruleset takes ([`Compiled`]): the
//! [`Ruleset`] itself, the nft text, the iptables script, and the sets the
//! kernel holds once the nft text is loaded.
//!
//! The interpreter shares nothing with the compiler: no aggregation, no
//! sweep, no `PortRange` — a rule allows a source, protocol and port when the
//! port lies in one of its ranges and the source in one of its zones'
//! networks, in so many words. Where the two disagree, one of them is wrong,
//! and the interpreter is short enough to read.

mod compiled;
mod model;
mod points;
mod universe;

use std::collections::BTreeSet;
use std::net::IpAddr;

use portreeve_core::Proto;
use portreeve_enforce::{Ruleset, Verdict};

pub use compiled::Compiled;
pub use model::{Ban, FamilyKey, Model, ModelRule};
pub use universe::Universe;

/// The first point of `addresses` × `ports` × both protocols where
/// `decide` and the interpreter disagree, described.
pub fn disagreement(
    model: &Model,
    name: &str,
    addresses: &BTreeSet<IpAddr>,
    ports: &BTreeSet<u16>,
    decide: impl Fn(IpAddr, Proto, u16) -> Verdict,
) -> Option<String> {
    for &src in addresses {
        for &port in ports {
            for proto in Proto::ALL {
                let want = model.decide(src, proto, port);
                let got = decide(src, proto, port);
                if want != got {
                    return Some(format!(
                        "{name}: {src} → {port}/{proto}: the policy says {want:?}, the ruleset {got:?}"
                    ));
                }
            }
        }
    }
    None
}

/// Whether two of the ruleset's boxes of one protocol overlap: the kernel
/// refuses such a set.
pub fn overlap(r: &Ruleset) -> Option<String> {
    let c = Compiled::of_ruleset(r);
    for (i, x) in c.allowed.iter().enumerate() {
        for y in &c.allowed[i + 1..] {
            let nets = x.0.contains(&y.0) || y.0.contains(&x.0);
            if nets && x.1 == y.1 && x.2 <= y.3 && y.2 <= x.3 {
                return Some(format!("{x:?} overlaps {y:?}"));
            }
        }
    }
    None
}

/// Renders `model` and describes it, for failure messages.
pub fn describe(model: &Model) -> String {
    format!(
        "--- policy ---\n{}--- injected bans {:?}, closed {:?}",
        model.toml(),
        model.injected_bans,
        model.closed
    )
}
