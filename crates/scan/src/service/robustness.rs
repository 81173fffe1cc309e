//! Every parser of network input, fed random bytes and every truncation of
//! a valid message: none may panic.

use super::parse::Parsed;
use super::*;

use super::every_parser::parse_everything as feed;

/// xorshift64*: reproducible noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = (self.next() as usize) % (max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// Random bytes after a plausible prefix, to get past the first checks.
    fn after(&mut self, prefix: &[u8], max: usize) -> Vec<u8> {
        let mut v = prefix.to_vec();
        v.extend(self.bytes(max));
        v
    }
}

/// Valid messages of every protocol, as servers send them.
fn samples() -> Vec<Vec<u8>> {
    let mut hello = bson::Document::default()
        .with("ismaster", bson::Bson::Bool(true))
        .with("maxWireVersion", bson::Bson::Int32(21))
        .with("ok", bson::Bson::Double(1.0))
        .encode();
    let mut msg = Vec::new();
    msg.extend_from_slice(&((16 + 5 + hello.len()) as i32).to_le_bytes());
    msg.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0, 0xdd, 7, 0, 0, 0, 0, 0, 0, 0]);
    msg.append(&mut hello);
    vec![
        b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n".to_vec(),
        mysql::tests::greeting("5.5.5-10.11.6-MariaDB-0+deb12u1"),
        b"RFB 003.008\n".to_vec(),
        b"\x02\x01\x02".to_vec(),
        b"220-mail ESMTP Exim 4.96\r\n220 ready\r\n".to_vec(),
        b"+OK Dovecot ready.\r\n".to_vec(),
        b"* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n".to_vec(),
        b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nTransfer-Encoding: chunked\r\n\r\n\
          1a\r\n<title>x</title>{\"a\": [1]}\r\n0\r\n\r\n"
            .to_vec(),
        b"*2\r\n$5\r\nhello\r\n:7\r\n".to_vec(),
        b"$40\r\n# Server\r\nredis_version:7.0.15\r\nos:Linux\r\n\r\n".to_vec(),
        b"VERSION 1.6.18\r\n".to_vec(),
        b"STAT pid 1\r\nEND\r\n".to_vec(),
        b"R\0\0\0\x08\0\0\0\0S\0\0\0\x19server_version\x0016.2 (x)\0Z\0\0\0\x05I".to_vec(),
        b"E\0\0\0\x14SFATAL\0C28000\0Mx\0\0".to_vec(),
        msg,
        b"\0\0\0\x10PTRV\0\0\0\0\0\x01\0\x12\0\0\0\x03".to_vec(),
        b"Zookeeper version: 3.8.4-abc, built on x\nMode: standalone\n".to_vec(),
        b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x1f\x08\x00\x02\x00\x00\x00".to_vec(),
        include_bytes!("testdata/leaf.der").to_vec(),
    ]
}

#[test]
fn truncated_messages_never_panic() {
    for sample in samples() {
        for end in 0..=sample.len() {
            feed(&sample[..end]);
            // And with one byte flipped.
            let mut flipped = sample[..end].to_vec();
            if let Some(b) = flipped.last_mut() {
                *b ^= 0x80;
            }
            feed(&flipped);
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut noise = Noise(0x05ee_d0f9_0472_ee7e);
    let prefixes: [&[u8]; 12] = [
        b"",
        b"SSH-2.0-",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"220-",
        b"RFB 003.008\n",
        b"*3\r\n",
        b"$",
        b"R\0\0\0",
        b"\x03\x00\x00\x13\x0e\xd0",
        b"\0\0\0\x20PTRV",
        b"\x20\0\0\0",
    ];
    for round in 0..10_000 {
        let prefix = prefixes[round % prefixes.len()];
        feed(&noise.after(prefix, 96));
    }
    // Garbage that claims to be a long, deep BSON document.
    let mut deep = Vec::new();
    for _ in 0..200 {
        deep.extend_from_slice(&[0xff, 0xff, 0, 0, 3, b'a', 0]);
    }
    feed(&deep);
    assert!(matches!(
        redis::parse(b"*1024\r\n*1024\r\n*1024\r\n"),
        Parsed::Incomplete
    ));
}
