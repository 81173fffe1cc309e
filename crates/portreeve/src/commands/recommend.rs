//! `recommend`: a least-privilege policy from recorded use, as a policy
//! file or a diff from the policy it started from; with `--kubernetes`,
//! NetworkPolicies from observed flows between pods.

use portreeve_app::detect::Recording;
use portreeve_app::recommend::kubernetes::{self, Proposal};
use portreeve_app::recommend::{self, Action, Narrowing, Prefixes, Request};
use portreeve_k8s::write::{to_json, to_yaml};

use crate::cli::{RecommendArgs, RecommendFormat};
use crate::context::Context;
use crate::failure::{EXIT_OK, Failure};
use crate::output::{emit, note};

pub fn run(args: &RecommendArgs, ctx: &Context) -> Result<u8, Failure> {
    if args.kubernetes {
        return run_kubernetes(args);
    }
    let format = match args.format {
        None | Some(RecommendFormat::Toml) => RecommendFormat::Toml,
        Some(RecommendFormat::Diff) => RecommendFormat::Diff,
        Some(other) => return Err(wrong_format(other, "toml or diff", "")),
    };
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
    match format {
        RecommendFormat::Diff => emit(&recommend::diff(&base, &rec.text)),
        _ => emit(&rec.text),
    }
    note(&summary(&rec.rules, &base.policy.origin));
    Ok(EXIT_OK)
}

/// `recommend --kubernetes`: the proposed NetworkPolicies on standard
/// output, the notes and a summary on standard error.
fn run_kubernetes(args: &RecommendArgs) -> Result<u8, Failure> {
    let json = match args.format {
        None | Some(RecommendFormat::Yaml) => false,
        Some(RecommendFormat::Json) => true,
        Some(other) => return Err(wrong_format(other, "yaml or json", " with --kubernetes")),
    };
    let recording = match (&args.zeek, &args.flows, &args.pcap) {
        (Some(path), _, _) => Recording::ZeekConnLog(path),
        (_, Some(path), _) => Recording::FlowCsv(path),
        (_, _, Some(path)) => Recording::Capture(path),
        _ => unreachable!("clap requires one of --zeek, --flows, --pcap with --kubernetes"),
    };
    let proposal = kubernetes::run(&kubernetes::Request {
        manifests: &args.manifests,
        recording,
        policy: args.policy.as_deref(),
    })?;
    emit(&if json {
        to_json(&proposal.policies)
    } else {
        to_yaml(&proposal.policies)
    });
    for line in &proposal.notes {
        note(line);
    }
    note(&kubernetes_summary(&proposal));
    Ok(EXIT_OK)
}

fn wrong_format(format: RecommendFormat, allowed: &str, mode: &str) -> Failure {
    let name = clap::ValueEnum::to_possible_value(&format)
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    Failure::Input(format!(
        "--format {name} is not an output of recommend{mode}: use {allowed}"
    ))
}

/// `12 policies (3 default denies) from 40 of 52 connection attempts; 9
/// failed, 3 to addresses of no pod, …`.
fn kubernetes_summary(p: &Proposal) -> String {
    let t = &p.tally;
    let denies = p
        .policies
        .iter()
        .filter(|d| d.metadata.name == portreeve_k8s::write::DEFAULT_DENY_NAME)
        .count();
    format!(
        "{} NetworkPolicies ({denies} default denies) from {} of {} connection attempts; \
         not used: {} failed, {} to addresses of no pod, {} to hostNetwork pods, {} of a pod to itself",
        p.policies.len(),
        t.used,
        t.attempts,
        t.failed,
        t.not_to_a_pod,
        t.to_host_network,
        t.to_itself
    )
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
