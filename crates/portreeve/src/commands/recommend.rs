//! `recommend`: a least-privilege policy from recorded use, as a policy
//! file or a diff from the policy it started from.

use portreeve_app::recommend::{self, Action, Narrowing, Prefixes, Request};

use crate::cli::{RecommendArgs, RecommendFormat};
use crate::context::Context;
use crate::failure::{EXIT_OK, Failure};
use crate::output::{emit, note};

pub fn run(args: &RecommendArgs, ctx: &Context) -> Result<u8, Failure> {
    let request = Request {
        policy: args.policy.as_deref(),
        usage: args.usage.as_deref(),
        since: args.since,
        prefixes: Prefixes {
            v4: args.aggregate,
            v6: args.aggregate6,
        },
    };
    let (base, rec) = recommend::run(&ctx.state, &request)?;
    match args.format {
        RecommendFormat::Toml => emit(&rec.text),
        RecommendFormat::Diff => emit(&recommend::diff(&base, &rec.text)),
    }
    note(&summary(&rec.rules, &base.policy.origin));
    Ok(EXIT_OK)
}

/// `from policy.toml: 3 rules kept (2 narrowed), 1 dropped, 2 kept as written`.
fn summary(rules: &[recommend::RuleAdvice], origin: &str) -> String {
    let count = |f: &dyn Fn(&Action) -> bool| rules.iter().filter(|r| f(&r.action)).count();
    let kept = count(&|a| matches!(a, Action::Kept { .. }));
    let narrowed = count(
        &|a| matches!(a, Action::Kept { sources, unused_ports } if *sources != Narrowing::Unchanged || !unused_ports.is_empty()),
    );
    let dropped = count(&|a| *a == Action::Dropped);
    let protected = count(&|a| matches!(a, Action::Protected(_)));
    format!(
        "from {origin}: {kept} rule{} kept ({narrowed} narrowed), {dropped} dropped, {protected} kept as written",
        if kept == 1 { "" } else { "s" }
    )
}
