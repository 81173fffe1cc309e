//! Fuzzes the policy parser, the one parser of user input in portreeve so
//! far, from a file's bytes as `LoadedPolicy::read` gets them. Any input —
//! UTF-8 or not — must yield a policy or located errors, never a panic, and
//! every error must point inside the text it is shown against.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match portreeve_policy::parse_policy_bytes("fuzz.toml", data) {
        Ok(policy) => {
            // Bytes that parse are UTF-8, and parse the same as text.
            let text = std::str::from_utf8(data).expect("a parsed policy is UTF-8");
            assert_eq!(
                portreeve_policy::parse_policy("fuzz.toml", text).as_ref(),
                Ok(&policy)
            );
            // A valid policy must also evaluate.
            let _ = portreeve_policy::evaluate(&policy, &[], jiff::civil::date(2026, 11, 29));
        }
        Err(errors) => {
            assert!(!errors.errors.is_empty());
            if std::str::from_utf8(data).is_ok() {
                assert_eq!(errors.source.as_bytes(), data, "the source is the text");
            }
            for e in &errors.errors {
                assert!(e.span.start <= e.span.end, "span backwards");
                assert!(e.span.end <= errors.source.len(), "span outside the input");
                assert!(e.line >= 1 && e.column >= 1);
            }
        }
    }
});
