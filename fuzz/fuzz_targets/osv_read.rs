//! Fuzz target: `portreeve_fuzz_props::osv_read`, whose doc comment says what
//! it checks. `cargo test -p portreeve-fuzz-props` replays this target's
//! corpus and regressions through the same function.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portreeve_fuzz_props::osv_read(data));
