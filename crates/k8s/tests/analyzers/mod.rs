//! What the agreement tests share: the facts both analyzers' answers are
//! brought to, IBM's network-config-analyzer ("NCA") and `k8s reach` read
//! into them, and their exact comparison. `nca_agreement` compares the two
//! analyzers on the corpus; `render_agreement` compares each with what a
//! rendered portreeve policy allows.

#![allow(dead_code)] // Each test binary uses a different part.

pub mod compare;
pub mod facts;
pub mod nca;
pub mod portreeve;
