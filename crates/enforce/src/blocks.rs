//! Blocked sources, as the kernel holds them: an element with a timeout in
//! `blocklist_v4`/`blocklist_v6` (interval sets, so a network is one
//! element), dropped by the input chain whatever the port. The kernel
//! removes an element when its timeout runs out, whether or not portreeve
//! is running, so a block always ends.
//!
//! Blocks the kernel makes itself (scan detection's `block`, see
//! `nft_text::scan`) are elements of the hash sets
//! `scan_blocked_v4`/`scan_blocked_v6`, one address each; they are listed
//! and ended here too.

use ipnet::IpNet;

use crate::nft_text::{TABLE, TimedElement};

/// Who made a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// `portreeve block`: an element of `blocklist_*`.
    Manual,
    /// The kernel's scan detection: an element of `scan_blocked_*`.
    Automatic,
}

/// The sets holding blocks of `kind`, IPv4 first.
pub fn sets_of(kind: BlockKind) -> [&'static str; 2] {
    match kind {
        BlockKind::Manual => ["blocklist_v4", "blocklist_v6"],
        BlockKind::Automatic => crate::nft_text::scan::BLOCKED_SETS,
    }
}

/// A block the kernel holds now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveBlock {
    /// Who made it.
    pub kind: BlockKind,
    /// The blocked source, host bits cleared.
    pub source: IpNet,
    /// Seconds left.
    pub expires_s: u64,
    /// The block's full lifetime, in seconds.
    pub timeout_s: u64,
}

/// Why the kernel's blocklist cannot take a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockSetError {
    /// The source overlaps another block: nft refuses overlapping
    /// elements in an interval set.
    #[error(
        "{wanted} overlaps the block of {existing} ({seconds_left} s left); unblock it first to block something else"
    )]
    Overlaps {
        /// The block asked for.
        wanted: IpNet,
        /// The block in the way.
        existing: IpNet,
        /// Its time left.
        seconds_left: u64,
    },
    /// An unblock of a source that is not blocked.
    #[error("{0} is not blocked (`portreeve blocks` lists the blocks)")]
    NotBlocked(IpNet),
}

/// The set of `kind` a block of `source` is in.
pub fn set_for(source: IpNet, kind: BlockKind) -> &'static str {
    let [v4, v6] = sets_of(kind);
    match source {
        IpNet::V4(_) => v4,
        IpNet::V6(_) => v6,
    }
}

/// The set keeping the scan-detection bucket of `source`'s family.
fn bucket_set(source: IpNet) -> &'static str {
    match source {
        IpNet::V4(_) => "scan_sources_v4",
        IpNet::V6(_) => "scan_sources_v6",
    }
}

/// A blocklist element as nft writes and lists it: a host as a bare
/// address, a network as a CIDR.
fn element(source: IpNet) -> String {
    if source.prefix_len() == source.max_prefix_len() {
        source.addr().to_string()
    } else {
        source.to_string()
    }
}

/// The blocks of `kind` among the elements of its sets; `expires 0`
/// elements have run out.
pub fn live(elements: &[TimedElement], kind: BlockKind) -> Vec<LiveBlock> {
    elements
        .iter()
        .filter(|e| e.expires_s != Some(0))
        .filter_map(|e| {
            Some(LiveBlock {
                kind,
                source: crate::grants::parse_source(&e.key)?,
                expires_s: e.expires_s.unwrap_or(0),
                timeout_s: e.timeout_s.unwrap_or(0),
            })
        })
        .collect()
}

/// The nft transaction that blocks `source` for `ttl_s` seconds, given the
/// manual blocks already held (`existing`, of the same set). A block of the
/// same source replaces it, so the new TTL counts.
pub fn block_transaction(
    source: IpNet,
    ttl_s: u64,
    existing: &[LiveBlock],
) -> Result<String, BlockSetError> {
    let source = source.trunc();
    let set = set_for(source, BlockKind::Manual);
    let mut tx = String::new();
    for b in existing {
        if b.source == source {
            tx.push_str(&format!(
                "delete element inet {TABLE} {set} {{ {} }}\n",
                element(source)
            ));
        } else if b.source.contains(&source) || source.contains(&b.source) {
            return Err(BlockSetError::Overlaps {
                wanted: source,
                existing: b.source,
                seconds_left: b.expires_s,
            });
        }
    }
    tx.push_str(&format!(
        "add element inet {TABLE} {set} {{ {} timeout {}s }}\n",
        element(source),
        ttl_s.max(1)
    ));
    Ok(tx)
}

/// The nft transaction that ends the blocks of `source` before their time,
/// manual and automatic, given the blocks held (`existing`, of its family).
///
/// An automatic block's scan-detection bucket goes too, so the source
/// starts afresh: left, the emptied bucket would block it again on its
/// next closed port, undoing the unblock. (The bucket may have timed out
/// meanwhile, and deleting a missing element fails the transaction, so it
/// is added first: adding an element held already changes nothing.)
pub fn unblock_transaction(source: IpNet, existing: &[LiveBlock]) -> Result<String, BlockSetError> {
    let source = source.trunc();
    let mut tx = String::new();
    for b in existing.iter().filter(|b| b.source == source) {
        let (set, key) = (set_for(source, b.kind), element(source));
        if b.kind == BlockKind::Automatic {
            let bucket = bucket_set(source);
            tx.push_str(&format!(
                "add element inet {TABLE} {bucket} {{ {key} }}\ndelete element inet {TABLE} {bucket} {{ {key} }}\n"
            ));
        }
        tx.push_str(&format!("delete element inet {TABLE} {set} {{ {key} }}\n"));
    }
    if tx.is_empty() {
        return Err(BlockSetError::NotBlocked(source));
    }
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        crate::grants::parse_source(s).unwrap()
    }

    fn held(s: &str, left: u64) -> LiveBlock {
        LiveBlock {
            kind: BlockKind::Manual,
            source: net(s),
            expires_s: left,
            timeout_s: 600,
        }
    }

    #[test]
    fn elements_are_written_as_nft_lists_them_back() {
        let listed = [
            TimedElement {
                key: "203.0.113.9".into(),
                timeout_s: Some(600),
                expires_s: Some(598),
                counter: None,
            },
            TimedElement {
                key: "2001:db8::/64".into(),
                timeout_s: Some(60),
                expires_s: Some(0),
                counter: None,
            },
        ];
        assert_eq!(live(&listed, BlockKind::Manual), [held("203.0.113.9", 598)]);
        assert_eq!(
            block_transaction(net("203.0.113.9/24"), 600, &[]).unwrap(),
            "add element inet portreeve blocklist_v4 { 203.0.113.0/24 timeout 600s }\n"
        );
        assert_eq!(
            block_transaction(net("2001:db8::1"), 0, &[]).unwrap(),
            "add element inet portreeve blocklist_v6 { 2001:db8::1 timeout 1s }\n"
        );
    }

    #[test]
    fn a_reblock_replaces_and_an_overlap_is_refused() {
        let tx = block_transaction(net("203.0.113.9"), 60, &[held("203.0.113.9", 5)]).unwrap();
        assert!(tx.starts_with("delete element inet portreeve blocklist_v4 { 203.0.113.9 }\n"));
        let e = block_transaction(net("203.0.113.9"), 60, &[held("203.0.113.0/24", 5)]);
        assert_eq!(
            e.unwrap_err().to_string(),
            "203.0.113.9/32 overlaps the block of 203.0.113.0/24 (5 s left); unblock it first to block something else"
        );
        assert_eq!(
            unblock_transaction(net("203.0.113.8"), &[held("203.0.113.9", 5)]),
            Err(BlockSetError::NotBlocked(net("203.0.113.8")))
        );
    }

    #[test]
    fn an_unblock_ends_both_kinds_and_the_scanners_bucket() {
        let automatic = LiveBlock {
            kind: BlockKind::Automatic,
            ..held("203.0.113.9", 5)
        };
        assert_eq!(
            unblock_transaction(net("203.0.113.9"), &[held("203.0.113.9", 5), automatic]).unwrap(),
            "delete element inet portreeve blocklist_v4 { 203.0.113.9 }\n\
             add element inet portreeve scan_sources_v4 { 203.0.113.9 }\n\
             delete element inet portreeve scan_sources_v4 { 203.0.113.9 }\n\
             delete element inet portreeve scan_blocked_v4 { 203.0.113.9 }\n"
        );
    }
}
