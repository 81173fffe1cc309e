//! nft transactions are all or nothing: a rejected replacement leaves the
//! live ruleset exactly as it was, and the error says so. Runs inside a
//! namespace the test creates.

use portreeve_enforce::Ruleset;
use portreeve_enforce::nft_command::{Nft, NftError};
use portreeve_enforce::nft_text::{self, DynamicState};
use portreeve_testkit::Netns;

#[test]
fn a_rejected_transaction_changes_nothing() {
    if !portreeve_testkit::privileged("a_rejected_transaction_changes_nothing", &["ip", "nft"]) {
        return;
    }
    let ns = Netns::bare();
    let good = nft_text::render(&Ruleset::compile(&portreeve_policy::baseline()).unwrap());
    let nft = Nft::new();
    ns.run(|| {
        nft.apply(&nft_text::replace_transaction(
            &good,
            &DynamicState::default(),
            1,
        ))
    })
    .expect("the baseline applies");
    let before = ns
        .run(|| nft.list_table_text("inet", nft_text::TABLE))
        .unwrap()
        .expect("table exists");

    // A transaction that deletes the table and then fails half-way through
    // its replacement.
    let broken = good.replace("elements = {", "elements = { not-an-element,");
    let err = ns
        .run(|| {
            nft.apply(&nft_text::replace_transaction(
                &broken,
                &DynamicState::default(),
                1,
            ))
        })
        .expect_err("nft must reject it");
    assert!(matches!(err, NftError::Rejected(_)), "{err}");
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    let after = ns
        .run(|| nft.list_table_text("inet", nft_text::TABLE))
        .unwrap();
    assert_eq!(
        after.as_deref(),
        Some(before.as_str()),
        "the live ruleset is intact"
    );
}
