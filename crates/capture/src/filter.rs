//! The classic BPF program a capture's socket runs in the kernel: accept
//! an IPv4 or IPv6 packet whose source or destination is the offender's
//! address, drop everything else, so only the offender's packets are ever
//! copied to portreeve.
//!
//! The socket is `SOCK_DGRAM`, so the program sees the network-layer
//! packet from offset 0 on every interface, and the packet's protocol
//! comes from the kernel (the `SKF_AD_PROTOCOL` ancillary load), not from
//! a link header.

use std::net::IpAddr;

/// One classic BPF instruction, laid out as the kernel's `sock_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instruction {
    /// Operation (class, size, mode or jump test).
    pub code: u16,
    /// Instructions to skip when a jump's test holds.
    pub jt: u8,
    /// Instructions to skip when it does not.
    pub jf: u8,
    /// The operand.
    pub k: u32,
}

// From linux/bpf_common.h and linux/filter.h.
/// `BPF_LD | BPF_W | BPF_ABS`: load the 32-bit word at offset `k`.
pub const LOAD_WORD: u16 = 0x20;
/// `BPF_JMP | BPF_JEQ | BPF_K`: jump on `A == k`.
pub const JUMP_IF_EQUAL: u16 = 0x15;
/// `BPF_RET | BPF_K`: accept `k` bytes of the packet (0: drop it).
pub const RETURN: u16 = 0x06;
/// `SKF_AD_OFF + SKF_AD_PROTOCOL`: the load offset that yields the
/// packet's protocol (`skb->protocol`, in host order).
pub const PROTOCOL_OFFSET: u32 = (-0x1000i32) as u32;
/// The whole packet, whatever its length.
pub const ACCEPT_ALL: u32 = u32::MAX;

const ETH_P_IP: u32 = 0x0800;
const ETH_P_IPV6: u32 = 0x86dd;

/// The program that keeps only packets from or to `address` (an
/// IPv4-mapped IPv6 address means its IPv4 address).
pub fn from_or_to(address: IpAddr) -> Vec<Instruction> {
    match address.to_canonical() {
        // IPv4: source at 12, destination at 16.
        IpAddr::V4(a) => program(ETH_P_IP, &words(&a.octets()), [12, 16]),
        // IPv6: source at 8, destination at 24.
        IpAddr::V6(a) => program(ETH_P_IPV6, &words(&a.octets()), [8, 24]),
    }
}

/// The program that keeps no packet.
pub fn nothing() -> Vec<Instruction> {
    vec![ret(0)]
}

/// The address as the 32-bit words an absolute load yields (network
/// order read as a number).
fn words(octets: &[u8]) -> Vec<u32> {
    octets
        .chunks_exact(4)
        .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
        .collect()
}

/// Protocol check, then the address compared word by word at each of
/// `offsets`; the last two instructions accept and drop.
fn program(protocol: u32, address: &[u32], offsets: [u32; 2]) -> Vec<Instruction> {
    let per_field = 2 * address.len();
    let accept = 2 + 2 * per_field;
    let drop = accept + 1;
    let jump = |from: usize, to: usize| u8::try_from(to - from - 1).expect("a short program");
    let mut p = vec![
        load(PROTOCOL_OFFSET),
        Instruction {
            code: JUMP_IF_EQUAL,
            jt: 0,
            jf: jump(1, drop),
            k: protocol,
        },
    ];
    for (field, offset) in offsets.into_iter().enumerate() {
        // On a mismatch, go on with the next field, or drop after the last.
        let next_field = if field + 1 < offsets.len() {
            2 + (field + 1) * per_field
        } else {
            drop
        };
        for (i, word) in address.iter().enumerate() {
            p.push(load(offset + 4 * i as u32));
            let at = p.len();
            let last = i + 1 == address.len();
            p.push(Instruction {
                code: JUMP_IF_EQUAL,
                jt: if last { jump(at, accept) } else { 0 },
                jf: jump(at, next_field),
                k: *word,
            });
        }
    }
    p.push(ret(ACCEPT_ALL));
    p.push(ret(0));
    p
}

fn load(offset: u32) -> Instruction {
    Instruction {
        code: LOAD_WORD,
        jt: 0,
        jf: 0,
        k: offset,
    }
}

fn ret(bytes: u32) -> Instruction {
    Instruction {
        code: RETURN,
        jt: 0,
        jf: 0,
        k: bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jeq(jt: u8, jf: u8, k: u32) -> Instruction {
        Instruction {
            code: JUMP_IF_EQUAL,
            jt,
            jf,
            k,
        }
    }

    #[test]
    fn ipv4_checks_the_protocol_then_source_then_destination() {
        let a = 0xc000_0207; // 192.0.2.7
        assert_eq!(
            from_or_to("192.0.2.7".parse().unwrap()),
            vec![
                load(PROTOCOL_OFFSET),
                jeq(0, 5, 0x0800), // not IPv4: to the drop
                load(12),
                jeq(2, 0, a), // source matches: to the accept
                load(16),
                jeq(0, 1, a), // destination neither: to the drop
                ret(ACCEPT_ALL),
                ret(0),
            ]
        );
    }

    #[test]
    fn ipv4_mapped_addresses_filter_as_ipv4() {
        assert_eq!(
            from_or_to("::ffff:192.0.2.7".parse().unwrap()),
            from_or_to("192.0.2.7".parse().unwrap())
        );
    }

    #[test]
    fn ipv6_compares_all_four_words_of_each_address() {
        let p = from_or_to("2001:db8::1:7".parse().unwrap());
        let w = [0x2001_0db8, 0, 0x0000_0000, 0x0001_0007];
        let mut expected = vec![load(PROTOCOL_OFFSET), jeq(0, 17, 0x86dd)];
        // Source words at 8..24: a mismatch goes to the destination's first
        // load (index 10); the last word's match goes to the accept (18).
        for (i, k) in w.iter().enumerate() {
            let at = 3 + 2 * i;
            expected.push(load(8 + 4 * i as u32));
            let jt = if i == 3 { (18 - at - 1) as u8 } else { 0 };
            expected.push(jeq(jt, (10 - at - 1) as u8, *k));
        }
        // Destination words at 24..40: a mismatch goes to the drop (19).
        for (i, k) in w.iter().enumerate() {
            let at = 11 + 2 * i;
            expected.push(load(24 + 4 * i as u32));
            let jt = if i == 3 { (18 - at - 1) as u8 } else { 0 };
            expected.push(jeq(jt, (19 - at - 1) as u8, *k));
        }
        expected.extend([ret(ACCEPT_ALL), ret(0)]);
        assert_eq!(p, expected);
    }
}
