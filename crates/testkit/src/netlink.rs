//! Netlink messages built by hand, as the kernel sends them, for tests of
//! the decoders of conntrack and NFLOG events.

/// One netlink attribute (`struct nlattr`): length, type, payload, padded
/// to four bytes.
pub fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    while out.len() % 4 != 0 {
        out.push(0);
    }
    out
}
