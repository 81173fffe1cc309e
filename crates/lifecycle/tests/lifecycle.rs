//! Ports driven through their lives on a manual clock: active → dormant →
//! abandoned → reclaimed → undone, with every setting that holds a reclaim
//! back, and the exact instants at which states change.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use portreeve_core::{PortKey, PortUsage, Proto, Severity};
use portreeve_lifecycle::{
    Action, Clock, Hold, ManualClock, PortInput, PortPolicy, State, SystemClock, Thresholds,
    abandoned_findings, allowed_ports, classify, plan,
};
use portreeve_policy::{Policy, ReclaimMode, parse_policy};

const POLICY: &str = r#"
[zones]
public = ["0.0.0.0/0", "::/0"]
office = ["10.1.0.0/16"]
management = ["192.0.2.0/24"]

[enforce]
management_zone = "management"

[lifecycle]
reclaim = "close"

[lifecycle.zones.office]
dormant_after = "7d"
abandoned_after = "90d"

[[rule]]
name = "ssh"
port = 22
protocol = "tcp"
zones = ["management"]

[[rule]]
name = "app"
port = 8080
protocol = "tcp"
zones = ["public"]

[[rule]]
name = "vault"
port = 8200
protocol = "tcp"
zones = ["public"]
keep = true

[[rule]]
name = "intranet"
port = 8443
protocol = "tcp"
zones = ["office"]

[[rule]]
name = "report"
port = 9000
protocol = "tcp"
zones = ["public"]
reclaim = "recommend"

[[rule]]
name = "seasonal"
port = 9100
protocol = "tcp"
zones = ["public"]
dormant_after = "30d"
abandoned_after = "365d"

[[rule]]
name = "quiet"
port = 9200
protocol = "tcp"
zones = ["public"]
reclaim = "off"

[[rule]]
name = "debugger"
port = 9229
protocol = "tcp"
zones = ["public"]
grant = { max_ttl = "1h" }

[[rule]]
name = "metrics"
ports = [9300, "9301-9302"]
protocol = ["tcp", "udp"]
zones = ["public", "office"]
"#;

fn policy() -> Policy {
    parse_policy("policy.toml", POLICY).unwrap_or_else(|e| panic!("{e}"))
}

fn t0() -> Timestamp {
    "2027-01-01T00:00:00Z".parse().unwrap()
}

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

fn days(d: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * d)
}

fn tcp(port: u16) -> PortKey {
    PortKey::new(Proto::Tcp, port)
}

/// The single recommendation for `input` at `now`.
fn judge(
    policy: &Policy,
    input: &PortInput,
    now: Timestamp,
) -> portreeve_lifecycle::Recommendation {
    let mut out = plan(policy, std::slice::from_ref(input), now);
    assert_eq!(out.len(), 1);
    out.remove(0)
}

#[test]
fn a_port_lives_through_every_state_and_an_undo() {
    let policy = policy();
    let clock = ManualClock::new(t0());
    let key = tcp(8080);
    let mut port = PortInput::new(key, PortUsage::new(clock.now()), true);
    let state = |port: &PortInput, clock: &ManualClock| judge(&policy, port, clock.now());

    // Never used: idleness counts from first_seen.
    assert_eq!(state(&port, &clock).state, State::Active);
    clock.advance(hours(72) - SignedDuration::from_nanos(1));
    assert_eq!(state(&port, &clock).state, State::Active);
    clock.advance(SignedDuration::from_nanos(1));
    let r = state(&port, &clock);
    assert_eq!((r.state, r.action), (State::Dormant, Action::None));
    assert_eq!(r.idle, hours(72));

    // A connection makes it active again, and the count starts over.
    clock.advance(hours(28));
    port.usage.last_access = Some(clock.now());
    port.usage.connections += 1;
    port.usage.distinct_sources = 1;
    let r = state(&port, &clock);
    assert_eq!((r.state, r.idle), (State::Active, SignedDuration::ZERO));
    assert_eq!(r.last_access, Some(t0() + hours(100)));
    clock.advance(hours(72));
    assert_eq!(state(&port, &clock).state, State::Dormant);

    // 30 days after the last access: abandoned, and the policy says close.
    clock.set(t0() + hours(100) + days(30) - SignedDuration::from_secs(1));
    assert_eq!(state(&port, &clock).state, State::Dormant);
    clock.advance(SignedDuration::from_secs(1));
    let r = state(&port, &clock);
    assert_eq!(
        (r.state, r.action, r.hold),
        (State::Abandoned, Action::Close, None)
    );
    assert_eq!(r.policy.rules, ["app"]);

    // The agent closes it and records so: reclaimed, nothing more to do,
    // however long it stays closed.
    port.reclaimed_at = Some(clock.now());
    clock.advance(days(400));
    let r = state(&port, &clock);
    assert_eq!((r.state, r.action), (State::Reclaimed, Action::None));
    assert_eq!(r.reclaimed_at, port.reclaimed_at);

    // Undo: open again, and unused only from the moment it reopened, so it
    // is not reclaimed again at once.
    port.reclaimed_at = None;
    port.reopened_at = Some(clock.now());
    let r = state(&port, &clock);
    assert_eq!((r.state, r.action), (State::Active, Action::None));
    assert_eq!(r.idle_since, clock.now());
    clock.advance(hours(72));
    assert_eq!(state(&port, &clock).state, State::Dormant);
    clock.advance(days(30) - hours(72));
    assert_eq!(state(&port, &clock).action, Action::Close);
}

#[test]
fn classify_boundaries_are_inclusive() {
    let th = Thresholds::default();
    assert_eq!(th.dormant_after, hours(72));
    assert_eq!(th.abandoned_after, days(30));
    let used = PortUsage {
        first_seen: t0() - days(100),
        last_access: Some(t0()),
        connections: 5,
        distinct_sources: 2,
    };
    let at = |d: SignedDuration| classify(&used, &th, t0() + d);
    assert_eq!(at(SignedDuration::ZERO), State::Active);
    assert_eq!(at(hours(72) - SignedDuration::from_nanos(1)), State::Active);
    assert_eq!(at(hours(72)), State::Dormant);
    assert_eq!(at(days(30) - SignedDuration::from_nanos(1)), State::Dormant);
    assert_eq!(at(days(30)), State::Abandoned);
    assert_eq!(at(days(3650)), State::Abandoned);
    // A last access after "now" (the clock was stepped back) is active.
    assert_eq!(at(-hours(5)), State::Active);
}

#[test]
fn the_kernels_last_access_wins_over_first_seen() {
    // The firewall recorded an access 40 days before the agent first saw
    // the port: the port is abandoned, not new.
    let usage = PortUsage {
        first_seen: t0(),
        last_access: Some(t0() - days(40)),
        connections: 1,
        distinct_sources: 1,
    };
    assert_eq!(usage.idle_since(), t0() - days(40));
    assert_eq!(
        classify(&usage, &Thresholds::default(), t0()),
        State::Abandoned
    );
    // Never accessed: counts from first_seen.
    assert_eq!(PortUsage::new(t0()).idle_since(), t0());
}

#[test]
fn keep_is_never_reclaimed() {
    let policy = policy();
    let port = PortInput::new(tcp(8200), PortUsage::new(t0()), true);
    for later in [days(30), days(365), days(3650)] {
        let r = judge(&policy, &port, t0() + later);
        assert_eq!(r.state, State::Abandoned);
        assert_eq!((r.action, r.hold), (Action::None, Some(Hold::Keep)));
        assert!(r.policy.keep);
    }
}

#[test]
fn the_management_ssh_is_never_reclaimed() {
    let policy = policy();
    let r = judge(
        &policy,
        &PortInput::new(tcp(22), PortUsage::new(t0()), true),
        t0() + days(90),
    );
    assert_eq!(r.state, State::Abandoned);
    assert_eq!(
        (r.action, r.hold),
        (Action::None, Some(Hold::ManagementSsh))
    );
    assert!(r.policy.management_ssh);
    // Only the TCP port is SSH.
    assert!(!PortPolicy::resolve(&policy, PortKey::new(Proto::Udp, 22)).management_ssh);
    // Without a management zone there is nothing to lock out of, and the
    // port is judged like any other.
    let open = parse_policy(
        "p.toml",
        "[zones]\nall = [\"0.0.0.0/0\"]\n[lifecycle]\nreclaim = \"close\"\n[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"all\"]\n",
    )
    .unwrap();
    let r = judge(
        &open,
        &PortInput::new(tcp(22), PortUsage::new(t0()), true),
        t0() + days(90),
    );
    assert_eq!(r.action, Action::Close);
}

#[test]
fn reclaim_modes_per_rule() {
    let policy = policy();
    let at = t0() + days(31);
    let r = judge(
        &policy,
        &PortInput::new(tcp(9000), PortUsage::new(t0()), true),
        at,
    );
    assert_eq!(
        (r.action, r.hold),
        (Action::RecommendClose, Some(Hold::ReclaimRecommend))
    );
    assert_eq!(r.policy.reclaim, ReclaimMode::Recommend);
    let r = judge(
        &policy,
        &PortInput::new(tcp(9200), PortUsage::new(t0()), true),
        at,
    );
    assert_eq!(r.state, State::Abandoned);
    assert_eq!((r.action, r.hold), (Action::None, Some(Hold::ReclaimOff)));
}

#[test]
fn the_default_reclaim_only_recommends() {
    let p = parse_policy(
        "p.toml",
        "[zones]\nall = [\"0.0.0.0/0\"]\n[[rule]]\nport = 8080\nprotocol = \"tcp\"\nzones = [\"all\"]\n",
    )
    .unwrap();
    let r = judge(
        &p,
        &PortInput::new(tcp(8080), PortUsage::new(t0()), false),
        t0() + days(30),
    );
    assert_eq!(r.action, Action::RecommendClose);
}

#[test]
fn zone_and_rule_thresholds_apply() {
    let policy = policy();
    // office: dormant after 7 days, abandoned after 90.
    let office = PortInput::new(tcp(8443), PortUsage::new(t0()), true);
    assert_eq!(judge(&policy, &office, t0() + days(6)).state, State::Active);
    assert_eq!(
        judge(&policy, &office, t0() + days(7)).state,
        State::Dormant
    );
    assert_eq!(
        judge(&policy, &office, t0() + days(89)).state,
        State::Dormant
    );
    let r = judge(&policy, &office, t0() + days(90));
    assert_eq!((r.state, r.action), (State::Abandoned, Action::Close));
    // The rule's own thresholds beat the defaults.
    let seasonal = PortInput::new(tcp(9100), PortUsage::new(t0()), true);
    assert_eq!(
        judge(&policy, &seasonal, t0() + days(29)).state,
        State::Active
    );
    assert_eq!(
        judge(&policy, &seasonal, t0() + days(30)).state,
        State::Dormant
    );
    assert_eq!(
        judge(&policy, &seasonal, t0() + days(364)).state,
        State::Dormant
    );
    assert_eq!(
        judge(&policy, &seasonal, t0() + days(365)).state,
        State::Abandoned
    );
}

#[test]
fn several_rules_and_zones_take_the_most_conservative_settings() {
    // metrics allows 9300-9302 to public (defaults: 72h/30d, close) and to
    // office (7d/90d): the longest thresholds win.
    let policy = policy();
    let p = PortPolicy::resolve(&policy, PortKey::new(Proto::Udp, 9301));
    assert_eq!(p.thresholds.dormant_after, days(7));
    assert_eq!(p.thresholds.abandoned_after, days(90));
    assert_eq!(p.reclaim, ReclaimMode::Close);
    // A second rule for 8080 that says recommend, and another that keeps:
    // the least intrusive mode and keep win, whatever the order.
    let both = format!(
        "{POLICY}\n[[rule]]\nname = \"app-office\"\nport = 8080\nprotocol = \"tcp\"\nzones = [\"office\"]\nreclaim = \"recommend\"\n"
    );
    let p = PortPolicy::resolve(&parse_policy("p.toml", &both).unwrap(), tcp(8080));
    assert_eq!(p.reclaim, ReclaimMode::Recommend);
    assert_eq!(p.thresholds.abandoned_after, days(90));
    assert_eq!(p.rules, ["app", "app-office"]);
    assert!(!p.keep);
    let kept = format!(
        "{POLICY}\n[[rule]]\nname = \"app-keep\"\nport = 8080\nprotocol = \"tcp\"\nzones = [\"public\"]\nkeep = true\n"
    );
    assert!(PortPolicy::resolve(&parse_policy("p.toml", &kept).unwrap(), tcp(8080)).keep);
}

#[test]
fn ports_the_firewall_does_not_open_are_at_most_recommended() {
    let policy = policy();
    let at = t0() + days(31);
    // Listening but allowed by no rule: defaults, and a recommendation.
    let stray = judge(
        &policy,
        &PortInput::new(tcp(6379), PortUsage::new(t0()), true),
        at,
    );
    assert_eq!(
        (stray.state, stray.action, stray.hold),
        (
            State::Abandoned,
            Action::RecommendClose,
            Some(Hold::NotInFirewall)
        )
    );
    assert!(stray.policy.rules.is_empty() && !stray.policy.in_firewall);
    // Neither allowed nor listening: only history.
    let gone = judge(
        &policy,
        &PortInput::new(tcp(6379), PortUsage::new(t0()), false),
        at,
    );
    assert_eq!((gone.action, gone.hold), (Action::None, Some(Hold::Gone)));
    // An on-demand rule is closed until granted.
    let debugger = judge(
        &policy,
        &PortInput::new(tcp(9229), PortUsage::new(t0()), false),
        at,
    );
    assert_eq!(
        (debugger.action, debugger.hold),
        (Action::RecommendClose, Some(Hold::NotInFirewall))
    );
}

#[test]
fn plan_covers_every_port_sorted() {
    let policy = policy();
    let ports: Vec<PortInput> = [9000, 22, 8080, 8200]
        .into_iter()
        .map(|p| PortInput::new(tcp(p), PortUsage::new(t0()), true))
        .collect();
    let out = plan(&policy, &ports, t0() + days(30));
    let got: Vec<(u16, Action)> = out.iter().map(|r| (r.key.port, r.action)).collect();
    assert_eq!(
        got,
        [
            (22, Action::None),
            (8080, Action::Close),
            (8200, Action::None),
            (9000, Action::RecommendClose),
        ]
    );
    let json = serde_json::to_value(&out[1]).unwrap();
    assert_eq!(json["state"], "abandoned");
    assert_eq!(json["action"], "close");
    assert_eq!(json["key"]["protocol"], "tcp");
    assert_eq!(
        serde_json::to_value(&out[3]).unwrap()["hold"],
        "reclaim-recommend"
    );
}

#[test]
fn abandoned_ports_the_policy_would_close_become_findings() {
    let policy = policy();
    // 8080: abandoned, closed by policy; 9000: abandoned, recommended;
    // 8200 (keep) and 22 (management SSH): abandoned but held; 8443: the
    // office zone's 90 days have not passed.
    let ports: Vec<PortInput> = [22, 8080, 8200, 8443, 9000]
        .into_iter()
        .map(|p| PortInput::new(tcp(p), PortUsage::new(t0()), p != 9000))
        .collect();
    let recs = plan(&policy, &ports, t0() + days(31));
    let findings = abandoned_findings(&policy, &recs, &[]);
    let got: Vec<(&str, &str, Severity)> = findings
        .iter()
        .map(|f| (f.kind.code(), f.message.as_str(), f.severity))
        .collect();
    assert_eq!(
        got,
        [
            (
                "PR013",
                "8080/tcp has been unused for 31d: abandoned; the policy closes it (`reclaim = \"close\"`)",
                Severity::Medium
            ),
            (
                "PR013",
                "9000/tcp has been unused for 31d: abandoned; the policy recommends closing it",
                Severity::Medium
            ),
        ]
    );
    assert!(
        findings[0].evidence.iter().any(|e| e == "listening now"),
        "{:?}",
        findings[0].evidence
    );
    assert!(
        findings[1]
            .evidence
            .iter()
            .any(|e| e == "nothing listens on it now")
    );
    assert!(
        findings[0]
            .evidence
            .iter()
            .any(|e| e == "abandoned after 30d unused (dormant after 3d)"),
        "{:?}",
        findings[0].evidence
    );
    // The fingerprint names the port, not the time: stable across runs.
    let later = plan(&policy, &ports, t0() + days(40));
    assert_eq!(
        abandoned_findings(&policy, &later, &[])[0].fingerprint,
        findings[0].fingerprint
    );
}

#[test]
fn allowed_ports_enumerate_ranges_and_protocols() {
    let keys = allowed_ports(&policy());
    let metrics: Vec<String> = keys
        .iter()
        .filter(|k| (9300..=9302).contains(&k.port))
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        metrics,
        [
            "9300/tcp", "9300/udp", "9301/tcp", "9301/udp", "9302/tcp", "9302/udp"
        ]
    );
    assert!(keys.contains(&tcp(9229)));
    assert_eq!(keys.len(), 9 + 6 - 1); // nine rules, metrics has six keys
    assert!(keys.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn clocks_are_interchangeable() {
    let manual = Arc::new(ManualClock::new(t0()));
    let shared: Arc<dyn Clock> = manual.clone();
    assert_eq!(shared.now(), t0());
    assert_eq!(manual.advance(hours(1)), t0() + hours(1));
    assert_eq!(shared.now(), t0() + hours(1));
    manual.set(t0() - days(1));
    let by_ref: &dyn Clock = &&*manual;
    assert_eq!(by_ref.now(), t0() - days(1));
    // Saturates instead of panicking at the end of time.
    manual.set(Timestamp::MAX);
    assert_eq!(manual.advance(days(1)), Timestamp::MAX);
    let before = Timestamp::now();
    assert!(SystemClock.now() >= before);
}

#[test]
fn hold_names_are_their_json_names() {
    for hold in [
        Hold::Keep,
        Hold::ManagementSsh,
        Hold::ReclaimOff,
        Hold::ReclaimRecommend,
        Hold::NotInFirewall,
        Hold::Gone,
    ] {
        assert_eq!(serde_json::to_value(hold).unwrap(), hold.as_str());
    }
}

/// The hour `t` falls in, as the forecast counts hours.
fn hour(t: Timestamp) -> i64 {
    t.as_second().div_euclid(3600)
}

/// A history of `days` days from `t0()` with `connections` at 02:00 UTC of
/// the days `used` says.
fn history(days: i64, used: impl Fn(i64) -> bool) -> portreeve_forecast::Series {
    let counts = (0..days * 24)
        .map(|h| if h % 24 == 2 && used(h / 24) { 3 } else { 0 })
        .collect();
    portreeve_forecast::Series::new(hour(t0()), counts)
}

#[test]
fn a_fortnightly_jobs_history_keeps_it_from_abandoned_between_runs() {
    // 8080: 30 days to abandoned, closed by the policy. A job uses it every
    // 14 days; its last run was 13 days before the plan, 3 days short of
    // the next: the thresholds alone would close it mid-cycle.
    let policy = parse_policy(
        "p.toml",
        &POLICY.replace(
            "name = \"app\"\nport = 8080\nprotocol = \"tcp\"\nzones = [\"public\"]",
            "name = \"app\"\nport = 8080\nprotocol = \"tcp\"\nzones = [\"public\"]\nabandoned_after = \"10d\"",
        ),
    )
    .unwrap();
    let now = t0() + days(8 * 7 + 13);
    let series = history(8 * 7 + 13, |d| d % 14 == 0);
    let last_run = t0() + days(8 * 7) + hours(2);
    let mut usage = PortUsage::new(t0());
    usage.last_access = Some(last_run);
    let mut job = PortInput::new(tcp(8080), usage, true);
    let without = judge(&policy, &job, now);
    assert_eq!(
        (without.state, without.action),
        (State::Abandoned, Action::Close)
    );

    job.forecast = Some(portreeve_forecast::predict(&series, hour(now)));
    let with = judge(&policy, &job, now);
    assert_eq!((with.state, with.action), (State::Active, Action::None));
    let note = with.forecast.as_ref().expect("a forecast");
    assert_eq!((note.pattern, note.cycle_days), ("periodic", Some(14)));
    let json = serde_json::to_value(&with).unwrap();
    assert_eq!(json["forecast"]["effect"], "between-runs");
    assert!(
        json["forecast"]["why"]
            .as_str()
            .unwrap()
            .starts_with("used every 14 days; between runs"),
        "{json}"
    );
    // Reclaimed: the forecast says nothing of a port closed already.
    job.reclaimed_at = Some(now);
    assert_eq!(judge(&policy, &job, now).forecast, None);
}

#[test]
fn a_port_whose_daily_use_stopped_is_dormant_early_and_says_why() {
    // Used every day for four weeks, silent for the last 30 hours.
    let now = t0() + days(28) + hours(6) + hours(24);
    let series = history(29, |d| d < 28);
    let mut usage = PortUsage::new(t0());
    usage.last_access = Some(t0() + days(27) + hours(2));
    let mut port = PortInput::new(tcp(8080), usage, true);
    let policy = policy();
    assert_eq!(judge(&policy, &port, now).state, State::Active);
    port.forecast = Some(portreeve_forecast::predict(&series, hour(now)));
    let r = judge(&policy, &port, now);
    assert_eq!((r.state, r.action), (State::Dormant, Action::None));
    let note = r.forecast.unwrap();
    assert_eq!(note.pattern, "stopped");
    assert_eq!(
        note.effect,
        Some(portreeve_lifecycle::ForecastEffect::PredictedIdle)
    );
    assert!(note.probability < 0.05, "{note:?}");
}

#[test]
fn an_abandoned_ports_finding_gives_its_forecast_as_evidence() {
    let policy = policy();
    let mut port = PortInput::new(tcp(8080), PortUsage::new(t0()), true);
    port.forecast = Some(portreeve_forecast::Prediction {
        probability: 0.02,
        pattern: portreeve_forecast::Pattern::Stopped,
        last_used: None,
    });
    let recs = plan(&policy, &[port], t0() + days(31));
    let findings = abandoned_findings(&policy, &recs, &[]);
    assert_eq!(findings.len(), 1);
    assert!(
        findings[0].evidence.contains(
            &"forecast: stopped being used; chance of a new connection in the next 24h 2%"
                .to_string()
        ),
        "{:?}",
        findings[0].evidence
    );
}
