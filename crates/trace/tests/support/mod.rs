//! What the trace tests share lives in the testkit, where the agent's
//! tests of its responder use it too.

pub use portreeve_testkit::trace::*;
