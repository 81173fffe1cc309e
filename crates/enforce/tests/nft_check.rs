//! Every ruleset the compiler can produce is accepted by the real kernel:
//! each is checked with `nft -c -f -` (a dry run that changes nothing).

use portreeve_enforce::Ruleset;
use portreeve_enforce::nft_command::Nft;
use portreeve_enforce::nft_text::{self, DynamicState, TimedElement};
use portreeve_policy::parse_policy;

fn compile(src: &str) -> Ruleset {
    let policy = parse_policy("test.toml", src).unwrap_or_else(|e| panic!("{e}"));
    Ruleset::compile(&policy).unwrap()
}

#[track_caller]
fn assert_nft_accepts(text: &str) {
    if let Err(e) = Nft::new().check(text) {
        panic!("{e}\n--- ruleset ---\n{text}");
    }
}

fn privileged(test: &str) -> bool {
    portreeve_testkit::privileged(test, &["nft"])
}

const ZONES: &str = "[zones]\npublic = [\"0.0.0.0/0\", \"::/0\"]\nlan = [\"10.0.0.0/8\", \"fd00::/8\"]\nv6only = [\"2001:db8::/32\"]\n";

#[test]
fn the_baseline_and_the_example_compile_to_valid_rulesets() {
    if !privileged("the_baseline_and_the_example_compile_to_valid_rulesets") {
        return;
    }
    assert_nft_accepts(&nft_text::render(
        &Ruleset::compile(&portreeve_policy::baseline()).unwrap(),
    ));
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/examples/policy.toml"
    ))
    .unwrap();
    assert_nft_accepts(&nft_text::render(&compile(&example)));
}

#[test]
fn every_setting_and_limit_combination_is_valid() {
    if !privileged("every_setting_and_limit_combination_is_valid") {
        return;
    }
    for enforce in [
        "",
        "[enforce]\ndefault_action = \"reject\"\n",
        "[enforce]\nallow_ping = false\nallow_dhcp_client = false\nlog_dropped = false\n",
        "[enforce]\nlog_group = 65535\nlog_rate_per_second = 1\nusage_retention_days = 3650\n",
        "[enforce]\nlog = \"kernel\"\ndefault_action = \"reject\"\n",
    ] {
        for rules in [
            "",
            "[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"public\", \"lan\"]\n",
            "[[rule]]\nports = [53, \"8000-8100\"]\nprotocol = [\"tcp\", \"udp\"]\nzones = [\"lan\"]\nlimits = { new_per_second = 100 }\n\
             [[rule]]\nport = 8080\nprotocol = \"tcp\"\nzones = [\"public\"]\n",
            "[[rule]]\nport = 443\nprotocol = \"tcp\"\nzones = [\"v6only\"]\n\
             limits = { new_per_second = 500, new_per_second_per_source = 20, connections_per_source = 100, burst = 50 }\n\
             [[rule]]\nport = 5353\nprotocol = \"udp\"\nzones = [\"lan\"]\nlimits = { connections_per_source = 10 }\n\
             [[rule]]\nport = 9229\nprotocol = \"tcp\"\nzones = [\"lan\"]\ngrant = { max_ttl = \"1h\" }\n",
        ] {
            assert_nft_accepts(&nft_text::render(&compile(&format!(
                "{ZONES}{enforce}{rules}"
            ))));
        }
    }
}

#[test]
fn replacing_with_carried_state_is_a_valid_transaction() {
    if !privileged("replacing_with_carried_state_is_a_valid_transaction") {
        return;
    }
    let r = compile(&format!(
        "{ZONES}[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"lan\"]\n"
    ));
    let timed = |key: &str| TimedElement {
        key: key.into(),
        timeout_s: Some(3600),
        expires_s: Some(1200),
        counter: None,
    };
    let state = DynamicState {
        sets: vec![
            (
                "grants_v4".into(),
                vec![
                    timed("192.0.2.7 . tcp . 9229"),
                    timed("10.1.0.0/16 . udp . 53-54"),
                ],
            ),
            ("grants_v6".into(), vec![timed("2001:db8::7 . tcp . 9229")]),
            ("blocklist_v4".into(), vec![timed("198.51.100.0/24")]),
            (
                "seen".into(),
                vec![TimedElement {
                    counter: Some((3, 180)),
                    ..timed("tcp . 22")
                }],
            ),
        ],
    };
    assert_nft_accepts(&nft_text::replace_transaction(
        &nft_text::render(&r),
        &state,
        42,
    ));
    assert_nft_accepts(&nft_text::delete_transaction());
}

#[test]
fn ten_thousand_allowances_are_valid() {
    if !privileged("ten_thousand_allowances_are_valid") {
        return;
    }
    let mut src = String::from("[zones]\n");
    for z in 0..100 {
        src.push_str(&format!("z{z} = ["));
        // Every other /24, so nothing aggregates: 10,000 distinct elements.
        let nets: Vec<String> = (0..100)
            .map(|n| format!("\"10.{z}.{}.0/24\"", 2 * n))
            .collect();
        src.push_str(&nets.join(", "));
        src.push_str("]\n");
    }
    for z in 0..100 {
        src.push_str(&format!(
            "[[rule]]\nport = {}\nprotocol = \"tcp\"\nzones = [\"z{z}\"]\n",
            10_000 + z
        ));
    }
    let r = compile(&src);
    assert_eq!(r.allowed_v4.len(), 10_000);
    assert_nft_accepts(&nft_text::render(&r));
}

/// Scan detection in every mode, with and without a management zone and
/// never-block zones, with thresholds in every rate unit; and blocked
/// scanners carried across a re-apply that keeps blocking.
#[test]
fn every_scan_detection_setting_is_valid() {
    if !privileged("every_scan_detection_setting_is_valid") {
        return;
    }
    let rules = "[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"lan\"]\n\
                 [[rule]]\nport = 53\nprotocol = \"udp\"\nzones = [\"public\"]\nlimits = { new_per_second = 10 }\n";
    for detection in [
        "scan = \"alert\"\n",
        "scan = \"block\"\n",
        "scan = \"block\"\nnever_block = [\"lan\", \"v6only\"]\nports = 15\nwindow = \"5m\"\n",
        "scan = \"alert\"\nports = 1\nwindow = \"7s\"\nblock_ttl = \"1d\"\n",
        "scan = \"block\"\nlog_group = 65535\n",
    ] {
        for enforce in [
            "",
            "[enforce]\nmanagement_zone = \"lan\"\ndefault_action = \"reject\"\n",
        ] {
            let text = nft_text::render(&compile(&format!(
                "{ZONES}{enforce}[detection]\n{detection}{rules}"
            )));
            assert!(text.contains("\tchain scan {\n\t\tlog group "), "{text}");
            assert_nft_accepts(&text);
        }
    }
    let blocking = compile(&format!("{ZONES}[detection]\nscan = \"block\"\n{rules}"));
    let state = DynamicState {
        sets: vec![(
            "scan_blocked_v4".into(),
            vec![TimedElement {
                key: "192.0.2.9".into(),
                timeout_s: Some(600),
                expires_s: Some(300),
                counter: None,
            }],
        )],
    };
    let carried = nft_text::replace_transaction(&nft_text::render(&blocking), &state, 3);
    assert!(
        carried.contains(
            "add element inet portreeve scan_blocked_v4 { 192.0.2.9 timeout 600s expires 300s }"
        ),
        "{carried}"
    );
    assert_nft_accepts(&carried);
    let off = compile(&format!("{ZONES}{rules}"));
    let dropped = nft_text::replace_transaction(&nft_text::render(&off), &state, 4);
    assert!(
        !dropped.contains("192.0.2.9"),
        "turning blocking off lifts the blocks: {dropped}"
    );
    assert_nft_accepts(&dropped);
}
