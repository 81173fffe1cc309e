//! Fuzzes the policy parser, the one parser of user input in portreeve so
//! far. Any input must yield a policy or located errors — never a panic —
//! and every error must point inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match portreeve_policy::parse_policy("fuzz.toml", text) {
        Ok(policy) => {
            // A valid policy must also evaluate.
            let _ = portreeve_policy::evaluate(&policy, &[], jiff::civil::date(2026, 11, 29));
        }
        Err(errors) => {
            assert!(!errors.errors.is_empty());
            for e in &errors.errors {
                assert!(e.span.start <= text.len(), "span outside the input");
                assert!(e.line >= 1 && e.column >= 1);
            }
        }
    }
});
