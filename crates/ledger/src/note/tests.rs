//! Unit tests of the note module. Interoperability with other
//! implementations is tested in `tests/note_interop.rs`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

use super::*;

// ---------------------------------------------------------------- helpers

fn name(s: &str) -> KeyName {
    KeyName::new(s).unwrap()
}

/// A deterministic key, so that failures reproduce.
fn key(key_name: &str, kind: KeyKind, seed: u8) -> SignerKey {
    SignerKey::from_seed(name(key_name), kind, &[seed; 32])
}

fn log_key() -> SignerKey {
    key("example.com/log", KeyKind::NoteSigner, 1)
}

fn witness_key() -> SignerKey {
    key("witness.example/w1", KeyKind::Cosigner, 2)
}

fn checkpoint() -> Checkpoint {
    Checkpoint {
        origin: "example.com/log".into(),
        size: 20852163,
        root: *b"0123456789abcdefghijklmnopqrstuv",
        extensions: vec![],
    }
}

/// A checkpoint note signed by the log and cosigned by the witness.
fn signed_note() -> Note {
    let mut note = checkpoint().to_note().unwrap();
    note.sign(&log_key()).unwrap();
    note.cosign(&witness_key(), 1679315147).unwrap();
    note
}

fn b64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// A syntactically fine signature line for `name` (not a valid signature).
fn dummy_line(key_name: &str) -> String {
    format!("— {key_name} {}", b64(&[1, 2, 3, 4, 5, 6, 7, 8]))
}

// -------------------------------------------------------------- key names

#[test]
fn key_names_follow_the_signed_note_rules() {
    for good in [
        "example.com/log",
        "PeterNeumann",
        "oid/1.3.6.1",
        "пример.рф/журнал",
        "a",
    ] {
        assert_eq!(KeyName::new(good).unwrap().as_str(), good);
        assert_eq!(good.parse::<KeyName>().unwrap().to_string(), good);
    }
    let cases = [
        ("", KeyNameError::Empty),
        (
            "a+b",
            KeyNameError::Plus {
                name: "a+b".into(),
                at: 1,
            },
        ),
        (
            "a b",
            KeyNameError::Space {
                name: "a b".into(),
                at: 1,
                code: 0x20,
            },
        ),
        (
            "a\u{a0}b",
            KeyNameError::Space {
                name: "a\u{a0}b".into(),
                at: 1,
                code: 0xa0,
            },
        ),
        (
            "ab\u{3000}",
            KeyNameError::Space {
                name: "ab\u{3000}".into(),
                at: 2,
                code: 0x3000,
            },
        ),
        (
            "a\u{2028}",
            KeyNameError::Space {
                name: "a\u{2028}".into(),
                at: 1,
                code: 0x2028,
            },
        ),
        (
            "a\tb",
            KeyNameError::Space {
                name: "a\tb".into(),
                at: 1,
                code: 9,
            },
        ),
        (
            "a\u{1}b",
            KeyNameError::Control {
                name: "a\u{1}b".into(),
                at: 1,
                code: 1,
            },
        ),
        (
            "a\u{7f}",
            KeyNameError::Control {
                name: "a\u{7f}".into(),
                at: 1,
                code: 0x7f,
            },
        ),
    ];
    for (bad, problem) in cases {
        assert_eq!(
            KeyName::new(bad),
            Err(NoteError::KeyName(problem)),
            "{bad:?}"
        );
    }
    assert_eq!(
        KeyName::new("log+1").unwrap_err().to_string(),
        "key name \"log+1\" contains '+' at byte 3"
    );
}

// ------------------------------------------------------------------- keys

#[test]
fn key_ids_follow_the_specified_derivation() {
    for kind in [KeyKind::NoteSigner, KeyKind::Cosigner] {
        let key = key("example.com/k", kind, 9);
        let public = key.verifier();
        let mut preimage = b"example.com/k\n".to_vec();
        preimage.push(kind.type_byte());
        preimage.extend_from_slice(public.public_key().as_bytes());
        let digest = Sha256::digest(&preimage);
        let want = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        assert_eq!(key.key_id(), want);
        assert_eq!(public.key_id(), want);
    }
    // The same key pair under the same name has a different ID per kind,
    // so a signature of one kind is never looked up as the other.
    assert_ne!(
        key("n", KeyKind::NoteSigner, 3).key_id(),
        key("n", KeyKind::Cosigner, 3).key_id()
    );
}

#[test]
fn key_kinds_map_to_their_type_bytes() {
    assert_eq!(KeyKind::NoteSigner.type_byte(), 0x01);
    assert_eq!(KeyKind::Cosigner.type_byte(), 0x04);
    for byte in 0..=255u8 {
        match KeyKind::from_type_byte(byte) {
            Some(kind) => assert_eq!(kind.type_byte(), byte),
            None => assert!(byte != 0x01 && byte != 0x04),
        }
    }
}

#[test]
fn keys_round_trip_through_their_text_encodings() {
    for kind in [KeyKind::NoteSigner, KeyKind::Cosigner] {
        let signer = SignerKey::generate(name("example.com/gen"), kind).unwrap();
        let text = signer.to_string();
        assert!(text.starts_with(&format!(
            "PRIVATE+KEY+example.com/gen+{:08x}+",
            signer.key_id()
        )));
        let again: SignerKey = text.parse().unwrap();
        assert_eq!(again.to_string(), text);
        assert_eq!(again.verifier(), signer.verifier());
        assert_eq!(again.kind(), kind);

        let verifier = signer.verifier();
        let text = verifier.to_string();
        let data = text.splitn(3, '+').nth(2).unwrap();
        // The first base64 character carries the top 6 bits of the type byte.
        let first = if kind == KeyKind::NoteSigner {
            'A'
        } else {
            'B'
        };
        assert!(data.starts_with(first), "{text}");
        let again: VerifierKey = text.parse().unwrap();
        assert_eq!(again, verifier);
        assert_eq!(again.to_string(), text);
        assert_eq!(again.name().as_str(), "example.com/gen");
        assert_eq!(again.kind(), kind);
    }
}

#[test]
fn generated_keys_differ() {
    let a = SignerKey::generate(name("n"), KeyKind::NoteSigner).unwrap();
    let b = SignerKey::generate(name("n"), KeyKind::NoteSigner).unwrap();
    assert_ne!(a.verifier().public_key(), b.verifier().public_key());
}

#[test]
fn signer_key_debug_hides_the_secret() {
    let signer = log_key();
    let text = signer.to_string();
    let secret = text.splitn(5, '+').nth(4).unwrap();
    let debug = format!("{signer:?}");
    assert!(!debug.contains(secret), "{debug}");
    assert!(debug.contains("example.com/log"), "{debug}");
    assert!(
        debug.contains(&format!("{:08x}", signer.key_id())),
        "{debug}"
    );
}

/// The canonical verifier key string of `name`, `type_byte` and `key`,
/// with the key ID computed over the same bytes.
fn vkey_string(key_name: &str, type_byte: u8, key: &[u8]) -> String {
    let mut data = vec![type_byte];
    data.extend_from_slice(key);
    let mut preimage = format!("{key_name}\n").into_bytes();
    preimage.extend_from_slice(&data);
    let digest = Sha256::digest(&preimage);
    format!("{key_name}+{}+{}", hex4(&digest[..4]), b64(&data))
}

fn hex4(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn vkey_error(s: &str) -> KeyError {
    match s.parse::<VerifierKey>() {
        Err(NoteError::Key {
            encoding: KeyEncoding::Verifier,
            problem,
        }) => problem,
        other => panic!("{s:?}: {other:?}"),
    }
}

/// 32 bytes that are not the encoding of a curve point.
fn not_a_point() -> [u8; 32] {
    (2u8..)
        .map(|i| [i; 32])
        .find(|b| VerifyingKey::from_bytes(b).is_err())
        .unwrap()
}

#[test]
fn bad_verifier_keys_say_what_is_wrong() {
    let good = log_key().verifier();
    let public = *good.public_key().as_bytes();
    let good = good.to_string();
    let (id, data) = {
        let mut parts = good.splitn(3, '+').skip(1);
        (
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
        )
    };
    assert_eq!(vkey_error("example.com/log"), KeyError::Format);
    assert_eq!(
        vkey_error(&format!("example.com/log+{id}")),
        KeyError::Format
    );
    assert_eq!(
        vkey_error(&format!("+{id}+{data}")),
        KeyError::Name(KeyNameError::Empty)
    );
    assert_eq!(
        vkey_error(&format!("a b+{id}+{data}")),
        KeyError::Name(KeyNameError::Space {
            name: "a b".into(),
            at: 1,
            code: 0x20
        })
    );
    for bad_id in [
        id.to_uppercase(),
        id[..7].to_owned(),
        format!("{id}0"),
        "NOT_A_NUMBER".into(),
        "-1234567".into(),
    ] {
        assert_eq!(
            vkey_error(&format!("example.com/log+{bad_id}+{data}")),
            KeyError::KeyIdSyntax {
                found: bad_id.clone()
            },
            "{bad_id}"
        );
    }
    assert_eq!(
        vkey_error(&format!("example.com/log+{id}+{}", &data[1..])),
        KeyError::Base64
    );
    assert_eq!(
        vkey_error(&format!("example.com/log+{id}+{data}=")),
        KeyError::Base64
    );
    assert_eq!(
        vkey_error(&format!("example.com/log+{id}+")),
        KeyError::Empty
    );
    assert_eq!(
        vkey_error(&vkey_string("n", 0x02, &public)),
        KeyError::UnknownType { type_byte: 0x02 }
    );
    assert_eq!(
        vkey_error(&vkey_string("n", 0x01, &public[..31])),
        KeyError::Length { len: 31, want: 32 }
    );
    assert_eq!(
        vkey_error(&vkey_string("n", 0x01, &[public.as_slice(), &[0]].concat())),
        KeyError::Length { len: 33, want: 32 }
    );
    assert_eq!(
        vkey_error(&vkey_string("n", 0x01, &not_a_point())),
        KeyError::NotAPoint
    );
    // y = 1 encodes the identity point, of order 1.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(
        vkey_error(&vkey_string("n", 0x04, &identity)),
        KeyError::WeakKey
    );
    let stated = u32::from_str_radix(&id, 16).unwrap();
    let wrong = format!("{:08x}", stated ^ 1);
    assert_eq!(
        vkey_error(&format!("example.com/log+{wrong}+{data}")),
        KeyError::KeyIdMismatch {
            stated: stated ^ 1,
            computed: stated
        }
    );
    assert_eq!(
        vkey_error(&format!("example.com/other+{id}+{data}")),
        KeyError::KeyIdMismatch {
            stated,
            computed: VerifierKey::new(
                name("example.com/other"),
                KeyKind::NoteSigner,
                *log_key().verifier().public_key()
            )
            .key_id()
        }
    );
    assert_eq!(
        format!("example.com/log+{wrong}+{data}")
            .parse::<VerifierKey>()
            .unwrap_err()
            .to_string(),
        format!(
            "verifier key: key ID {wrong} does not match the key (name, type and key give {id})"
        )
    );
}

#[test]
fn bad_signer_keys_say_what_is_wrong_without_quoting_the_secret() {
    let signer = witness_key().to_string();
    let secret = signer.splitn(5, '+').nth(4).unwrap().to_owned();
    let parse_error = |s: &str| match s.parse::<SignerKey>() {
        Err(
            e @ NoteError::Key {
                encoding: KeyEncoding::Signer,
                ..
            },
        ) => {
            assert!(!e.to_string().contains(&secret[..8]), "{e}");
            e
        }
        other => panic!("{s:?}: {other:?}"),
    };
    // A verifier key is not a signer key.
    let e = parse_error(&witness_key().verifier().to_string());
    assert_eq!(
        e.to_string(),
        "signer key: does not start with \"PRIVATE+KEY+\""
    );
    let renamed = signer.replace("witness.example/w1", "witness.example/w2");
    assert!(matches!(
        parse_error(&renamed),
        NoteError::Key {
            problem: KeyError::KeyIdMismatch { .. },
            ..
        }
    ));
    let truncated = &signer[..signer.len() - 1];
    assert!(matches!(
        parse_error(truncated),
        NoteError::Key {
            problem: KeyError::Base64,
            ..
        }
    ));
    let shortened = &signer[..signer.len() - 4];
    assert!(matches!(
        parse_error(shortened),
        NoteError::Key {
            problem: KeyError::Length { len: 29, want: 32 },
            ..
        }
    ));
    let mut seed = vec![0x03];
    seed.extend_from_slice(&[5; 32]);
    let unknown = format!("PRIVATE+KEY+n+00000000+{}", b64(&seed));
    assert!(matches!(
        parse_error(&unknown),
        NoteError::Key {
            problem: KeyError::UnknownType { type_byte: 3 },
            ..
        }
    ));
}

// ---------------------------------------------------------- note syntax

#[test]
fn notes_round_trip_byte_for_byte() {
    let sig = dummy_line("a");
    let other = format!("— b.example/x {}", b64(&[0xff; 76]));
    for note in [
        format!("hello\n\n{sig}\n"),
        format!("hello\nworld\n\n{sig}\n{other}\n{sig}\n"),
        // Text may contain blank lines, even at its end: the last blank
        // line is the separator.
        format!("a\n\nb\n\n{sig}\n"),
        format!("a\n\n\n{sig}\n"),
        format!("\n\n{sig}\n"),
        format!("ünïcødé — ✓\n\n{sig}\n"),
        signed_note().to_string(),
    ] {
        let parsed = Note::parse(&note).unwrap();
        assert_eq!(parsed.to_string(), note);
        assert_eq!(Note::from_bytes(note.as_bytes()).unwrap(), parsed);
        assert_eq!(note.parse::<Note>().unwrap(), parsed);
    }
    let parsed = Note::parse(&format!("a\n\n\n{sig}\n")).unwrap();
    assert_eq!(parsed.text, "a\n\n");
}

#[test]
fn the_last_blank_line_separates_text_and_signatures() {
    let (a, b) = (dummy_line("a"), dummy_line("b"));
    let note = Note::parse(&format!("text\n\n{a}\n\n{b}\n")).unwrap();
    assert_eq!(note.text, format!("text\n\n{a}\n"));
    assert_eq!(note.signatures.len(), 1);
    assert_eq!(note.signatures[0].name.as_str(), "b");
}

#[test]
fn signature_lines_are_decoded() {
    let mut bytes = vec![0xc7, 0x4f, 0x20, 0xa3];
    bytes.extend_from_slice(&[9; 64]);
    let note = Note::parse(&format!("t\n\n— PeterNeumann {}\n", b64(&bytes))).unwrap();
    assert_eq!(
        note.signatures,
        vec![NoteSignature {
            name: name("PeterNeumann"),
            key_id: 0xc74f20a3,
            signature: vec![9; 64],
        }]
    );
}

fn parse_err(note: &str) -> NoteError {
    Note::parse(note).expect_err(note)
}

#[test]
fn malformed_notes_give_the_specific_error() {
    let sig = dummy_line("a");
    let cases: Vec<(String, NoteError)> = vec![
        ("hello\n".into(), NoteError::MissingBlankLine),
        (format!("hello\n{sig}\n"), NoteError::MissingBlankLine),
        ("hello\n\n".into(), NoteError::NoSignatures { line: 2 }),
        ("a\nb\n\n".into(), NoteError::NoSignatures { line: 3 }),
        ("".into(), NoteError::MissingFinalNewline { what: "note" }),
        (
            format!("hello\n\n{sig}"),
            NoteError::MissingFinalNewline { what: "note" },
        ),
        (
            format!("hel\tlo\n\n{sig}\n"),
            NoteError::ControlCharacter {
                line: 1,
                column: 4,
                code: 9,
            },
        ),
        (
            format!("a\nü\u{1}\n\n{sig}\n"),
            NoteError::ControlCharacter {
                line: 2,
                column: 2,
                code: 1,
            },
        ),
        (
            format!("a\n\n{sig}\r\n"),
            NoteError::ControlCharacter {
                line: 3,
                column: sig.chars().count() + 1,
                code: 13,
            },
        ),
        (
            format!("\u{0}a\n\n{sig}\n"),
            NoteError::ControlCharacter {
                line: 1,
                column: 1,
                code: 0,
            },
        ),
        (
            "a\n\n— a !!!!!!!!\n".into(),
            NoteError::SignatureBase64 { line: 3 },
        ),
        // Non-canonical: the padding bits of the last character are set.
        (
            "a\n\n— a AQIDBAUGBwi=\n".into(),
            NoteError::SignatureBase64 { line: 3 },
        ),
        // Unpadded.
        (
            "a\n\n— a AQIDBAUGBwg\n".into(),
            NoteError::SignatureBase64 { line: 3 },
        ),
        // An ASCII space ends the name, so the rest is not base64.
        (
            format!("a\n\n— a b {}\n", b64(&[1; 8])),
            NoteError::SignatureBase64 { line: 3 },
        ),
        (
            format!("a\n\n— a {}\n", b64(&[1, 2, 3, 4])),
            NoteError::SignatureTooShort { line: 3, len: 4 },
        ),
        (
            "a\n\n— a \n".into(),
            NoteError::SignatureTooShort { line: 3, len: 0 },
        ),
        (
            format!("a\n\n{sig}\n— a+b {}\n", b64(&[1; 8])),
            NoteError::SignatureKeyName {
                line: 4,
                problem: KeyNameError::Plus {
                    name: "a+b".into(),
                    at: 1,
                },
            },
        ),
        (
            format!("a\n\n— a\u{a0}b {}\n", b64(&[1; 8])),
            NoteError::SignatureKeyName {
                line: 3,
                problem: KeyNameError::Space {
                    name: "a\u{a0}b".into(),
                    at: 1,
                    code: 0xa0,
                },
            },
        ),
        (
            format!("a\n\n—  {}\n", b64(&[1; 8])),
            NoteError::SignatureKeyName {
                line: 3,
                problem: KeyNameError::Empty,
            },
        ),
        (
            "a\n\n— abc\n".into(),
            NoteError::SignatureMissingSpace { line: 3 },
        ),
        (
            format!("a\n\n- a {}\n", b64(&[1; 8])),
            NoteError::SignaturePrefix { line: 3 },
        ),
        (
            format!("a\n\n—a {}\n", b64(&[1; 8])),
            NoteError::SignaturePrefix { line: 3 },
        ),
        (
            format!("a\n\n{sig}\nUnexpected line.\n"),
            NoteError::SignaturePrefix { line: 4 },
        ),
    ];
    for (note, want) in cases {
        assert_eq!(parse_err(&note), want, "{note:?}");
    }
}

#[test]
fn sixteen_signatures_are_accepted_and_more_than_a_hundred_are_not() {
    let sig = dummy_line("a");
    for count in [16, MAX_SIGNATURES] {
        let note = format!("a\n\n{}", format!("{sig}\n").repeat(count));
        assert_eq!(Note::parse(&note).unwrap().signatures.len(), count);
    }
    let note = format!("a\n\n{}", format!("{sig}\n").repeat(MAX_SIGNATURES + 1));
    assert_eq!(
        parse_err(&note),
        NoteError::TooManySignatures {
            count: 101,
            max: 100
        }
    );
}

#[test]
fn oversized_and_non_utf8_notes_are_refused() {
    let sig = dummy_line("a");
    let big = format!("{}\n\n{sig}\n", "x".repeat(MAX_NOTE_SIZE));
    assert_eq!(
        parse_err(&big),
        NoteError::TooLarge {
            size: big.len(),
            max: MAX_NOTE_SIZE
        }
    );
    assert!(matches!(
        Note::from_bytes(big.as_bytes()),
        Err(NoteError::TooLarge { .. })
    ));
    let mut bytes = b"ok\nbad \xff\n\n".to_vec();
    bytes.extend_from_slice(sig.as_bytes());
    bytes.push(b'\n');
    assert_eq!(
        Note::from_bytes(&bytes),
        Err(NoteError::InvalidUtf8 { line: 2 })
    );
}

#[test]
fn error_messages_say_where() {
    assert_eq!(
        parse_err("a\n\n— a !!!!!!!!\n").to_string(),
        "line 3: signature is not valid base64"
    );
    assert_eq!(
        parse_err("hel\tlo\n\n— a AQIDBAUGBwg=\n").to_string(),
        "line 1, column 4: control character U+0009; only newline may appear"
    );
    assert_eq!(
        Checkpoint::parse_text("log\n012\nroot\n")
            .unwrap_err()
            .to_string(),
        "line 2: tree size \"012\" has a leading zero"
    );
    let long = format!("log\n{}x\nroot\n", "1".repeat(500));
    let message = Checkpoint::parse_text(&long).unwrap_err().to_string();
    assert!(message.len() < 150 && message.contains('…'), "{message}");
}

// ------------------------------------------------------------ signatures

#[test]
fn signing_then_verifying_works() {
    let log = log_key();
    let mut note = Note::new("hello\nworld\n").unwrap();
    note.sign(&log).unwrap();
    assert_eq!(note.signatures.len(), 1);
    assert_eq!(note.signatures[0].signature.len(), 64);
    let again = Note::parse(&note.to_string()).unwrap();
    assert_eq!(again, note);
    assert_eq!(
        again.verify(&[log.verifier()]).unwrap(),
        vec![VerifiedNote {
            key: log.verifier(),
            index: 0,
            timestamp: None
        }]
    );
    // The signature is a plain Ed25519 signature over the text.
    let signature = Signature::from_slice(&note.signatures[0].signature).unwrap();
    log.verifier()
        .public_key()
        .verify(b"hello\nworld\n", &signature)
        .unwrap();
}

#[test]
fn signing_again_replaces_the_key_s_signature() {
    let (a, b) = (log_key(), key("other.example/log", KeyKind::NoteSigner, 7));
    let mut note = Note::new("text\n").unwrap();
    note.sign(&a).unwrap();
    note.sign(&b).unwrap();
    note.sign(&a).unwrap();
    let names: Vec<_> = note.signatures.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["other.example/log", "example.com/log"]);
    assert_eq!(note.verify(&[a.verifier(), b.verifier()]).unwrap().len(), 2);
}

#[test]
fn a_full_note_takes_no_more_signatures() {
    let mut note = Note::new("text\n").unwrap();
    for i in 0..MAX_SIGNATURES {
        note.signatures.push(NoteSignature {
            name: name(&format!("k{i}")),
            key_id: 0,
            signature: vec![0],
        });
    }
    assert_eq!(
        note.sign(&log_key()),
        Err(NoteError::TooManySignatures {
            count: 101,
            max: 100
        })
    );
    note.signatures.push(note.signatures[0].clone());
    assert_eq!(
        note.verify(&[log_key().verifier()]),
        Err(NoteError::TooManySignatures {
            count: 101,
            max: 100
        })
    );
}

#[test]
fn cosigning_then_verifying_gives_the_timestamp() {
    let (log, witness) = (log_key(), witness_key());
    let note = Note::parse(&signed_note().to_string()).unwrap();
    let verified = note.verify(&[log.verifier(), witness.verifier()]).unwrap();
    assert_eq!(
        verified,
        vec![
            VerifiedNote {
                key: log.verifier(),
                index: 0,
                timestamp: None
            },
            VerifiedNote {
                key: witness.verifier(),
                index: 1,
                timestamp: Some(1679315147)
            },
        ]
    );
    // Check the message format independently of the verifier: an 8-byte
    // big-endian timestamp, then Ed25519 over the header, the time line
    // and the whole checkpoint.
    let cosig = &note.signatures[1].signature;
    assert_eq!(cosig.len(), 72);
    assert_eq!(cosig[..8], 1679315147u64.to_be_bytes());
    assert_eq!(note.signatures[1].cosignature_timestamp(), Some(1679315147));
    assert_eq!(note.signatures[0].cosignature_timestamp(), None);
    let message = format!(
        "cosignature/v1\ntime 1679315147\n{}",
        checkpoint().to_text()
    );
    let signature = Signature::from_slice(&cosig[8..]).unwrap();
    witness
        .verifier()
        .public_key()
        .verify(message.as_bytes(), &signature)
        .unwrap();
}

#[test]
fn cosignature_timestamps_are_bounded() {
    let witness = witness_key();
    let mut note = checkpoint().to_note().unwrap();
    for timestamp in [0, i64::MAX as u64] {
        note.cosign(&witness, timestamp).unwrap();
        let verified = note.verify(&[witness.verifier()]).unwrap();
        assert_eq!(verified[0].timestamp, Some(timestamp));
    }
    assert_eq!(
        note.cosign(&witness, 1 << 63),
        Err(NoteError::TimestampOutOfRange { timestamp: 1 << 63 })
    );
    // A cosignature that claims such a time is rejected even though its
    // Ed25519 signature is good.
    let timestamp = u64::MAX;
    let message = format!("cosignature/v1\ntime {timestamp}\n{}", note.text);
    let mut bytes = timestamp.to_be_bytes().to_vec();
    bytes.extend_from_slice(&witness.sign_bytes(message.as_bytes()));
    note.signatures[0].signature = bytes;
    assert_eq!(
        note.verify(&[witness.verifier()]),
        Err(NoteError::BadSignature {
            number: 1,
            line: 5,
            key: format!("witness.example/w1+{:08x}", witness.key_id()),
            problem: SignatureProblem::TimestampOutOfRange { timestamp },
        })
    );
}

#[test]
fn only_checkpoints_are_cosigned() {
    let mut note = Note::new("not a checkpoint\n").unwrap();
    assert_eq!(
        note.cosign(&witness_key(), 1),
        Err(NoteError::NotACheckpoint(Box::new(
            NoteError::CheckpointMissingLine {
                line: 2,
                what: "tree size"
            }
        )))
    );
    assert!(note.signatures.is_empty());
}

#[test]
fn keys_of_the_wrong_kind_are_refused_for_signing() {
    let mut note = checkpoint().to_note().unwrap();
    let witness = witness_key();
    let err = note.sign(&witness).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "key witness.example/w1+{:08x} is a cosigner (0x04) key, but Note::sign needs a note signer (0x01) key",
            witness.key_id()
        )
    );
    assert!(matches!(
        note.cosign(&log_key(), 1),
        Err(NoteError::WrongKeyKind {
            actual: KeyKind::NoteSigner,
            expected: KeyKind::Cosigner,
            ..
        })
    ));
    assert!(note.signatures.is_empty());
}

#[test]
fn a_note_signer_key_cannot_verify_a_cosignature_and_vice_versa() {
    let seed = [42; 32];
    let as_cosigner = SignerKey::from_seed(name("dual.example"), KeyKind::Cosigner, &seed);
    let as_signer = SignerKey::from_seed(name("dual.example"), KeyKind::NoteSigner, &seed);

    let mut cosigned = checkpoint().to_note().unwrap();
    cosigned.cosign(&as_cosigner, 1000).unwrap();
    let mut signed = checkpoint().to_note().unwrap();
    signed.sign(&as_signer).unwrap();

    // Honest lines carry the key ID of their kind, so the other kind's
    // verifier key does not even consider them.
    assert!(matches!(
        cosigned.verify(&[as_signer.verifier()]),
        Err(NoteError::NoVerifiedSignature { .. })
    ));
    assert!(matches!(
        signed.verify(&[as_cosigner.verifier()]),
        Err(NoteError::NoVerifiedSignature { .. })
    ));

    // Relabelled lines are checked, and fail.
    let mut forged = cosigned.clone();
    forged.signatures[0].key_id = as_signer.key_id();
    assert!(matches!(
        forged.verify(&[as_signer.verifier()]),
        Err(NoteError::BadSignature {
            problem: SignatureProblem::WrongLength {
                len: 72,
                want: 64,
                ..
            },
            ..
        })
    ));
    let mut forged = signed.clone();
    forged.signatures[0].key_id = as_cosigner.key_id();
    assert!(matches!(
        forged.verify(&[as_cosigner.verifier()]),
        Err(NoteError::BadSignature {
            problem: SignatureProblem::WrongLength {
                len: 64,
                want: 72,
                ..
            },
            ..
        })
    ));
    // Even with the right length, a note signature is not a cosignature:
    // the cosigned message starts with "cosignature/v1".
    let mut forged = signed.clone();
    let mut bytes = 0u64.to_be_bytes().to_vec();
    bytes.extend_from_slice(&signed.signatures[0].signature);
    forged.signatures[0] = NoteSignature {
        name: name("dual.example"),
        key_id: as_cosigner.key_id(),
        signature: bytes,
    };
    assert!(matches!(
        forged.verify(&[as_cosigner.verifier()]),
        Err(NoteError::BadSignature {
            problem: SignatureProblem::DoesNotVerify,
            ..
        })
    ));
}

#[test]
fn tampering_with_any_byte_of_the_text_fails() {
    let note = signed_note();
    let keys = [log_key().verifier(), witness_key().verifier()];
    for i in 0..note.text.len() {
        let mut bytes = note.text.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = Note {
            text: String::from_utf8(bytes).unwrap(),
            signatures: note.signatures.clone(),
        };
        let err = tampered.verify(&keys).unwrap_err();
        if note.text.as_bytes()[i] == b'\n' && i == note.text.len() - 1 {
            assert_eq!(err, NoteError::MissingFinalNewline { what: "note text" });
        } else {
            assert!(
                matches!(
                    err,
                    NoteError::BadSignature {
                        number: 1,
                        problem: SignatureProblem::DoesNotVerify,
                        ..
                    }
                ),
                "byte {i}: {err:?}"
            );
        }
    }
    // Adding an extension line is tampering too.
    let mut tampered = note.clone();
    tampered.text.push_str("extension\n");
    assert!(tampered.verify(&keys).is_err());
}

#[test]
fn tampering_with_any_bit_of_a_signature_fails() {
    let note = signed_note();
    let log = log_key().verifier();
    let witness = witness_key().verifier();
    for (index, key) in [(0, &log), (1, &witness)] {
        let len = note.signatures[index].signature.len();
        for byte in 0..len {
            for bit in 0..8 {
                let mut tampered = note.clone();
                tampered.signatures[index].signature[byte] ^= 1 << bit;
                let err = tampered.verify(std::slice::from_ref(key)).unwrap_err();
                assert!(
                    matches!(&err, NoteError::BadSignature { number, .. } if *number == index + 1),
                    "signature {index} byte {byte} bit {bit}: {err:?}"
                );
            }
        }
        // A changed key ID or name makes the signature someone else's.
        for bit in 0..32 {
            let mut tampered = note.clone();
            tampered.signatures[index].key_id ^= 1 << bit;
            assert!(matches!(
                tampered.verify(std::slice::from_ref(key)),
                Err(NoteError::NoVerifiedSignature { .. })
            ));
        }
        let mut tampered = note.clone();
        tampered.signatures[index].name = name("someone.else");
        assert!(matches!(
            tampered.verify(std::slice::from_ref(key)),
            Err(NoteError::NoVerifiedSignature { .. })
        ));
    }
}

#[test]
fn tampering_with_any_character_of_the_wire_form_fails() {
    let wire = signed_note().to_string();
    let keys = [log_key().verifier(), witness_key().verifier()];
    for (i, ch) in wire.char_indices() {
        let replacement = if ch == 'A' { 'B' } else { 'A' };
        let mut tampered = wire.clone();
        tampered.replace_range(i..i + ch.len_utf8(), &replacement.to_string());
        // Either the syntax breaks, or a signature no longer verifies
        // (which rejects the note), or a signature stops being from a known
        // key (so fewer verify); never do both still verify.
        if let Ok(note) = Note::parse(&tampered) {
            let verified = note.verify(&keys).map_or(0, |v| v.len());
            assert!(verified < 2, "char {i} of {wire:?}");
        }
    }
}

#[test]
fn unknown_keys_are_ignored() {
    let note = signed_note();
    let witness = witness_key();
    let verified = note.verify(&[witness.verifier()]).unwrap();
    assert_eq!(verified.len(), 1);
    assert_eq!(verified[0].index, 1);
    // Keys that share only the name or only the key ID with a signature
    // are other keys: its signature is not checked with them.
    let same_name = key("witness.example/w1", KeyKind::Cosigner, 99).verifier();
    let mut same_id_note = note.clone();
    same_id_note.signatures[1].name = name("witness.example/w2");
    let verified = same_id_note
        .verify(&[log_key().verifier(), same_name.clone()])
        .unwrap();
    assert_eq!(verified.len(), 1);
    assert_eq!(verified[0].key, log_key().verifier());
    assert!(matches!(
        note.verify(&[same_name]),
        Err(NoteError::NoVerifiedSignature { .. })
    ));
}

#[test]
fn a_failing_known_signature_rejects_the_note_even_if_another_verifies() {
    let mut note = signed_note();
    let last = note.signatures[1].signature.len() - 1;
    note.signatures[1].signature[last] ^= 1;
    let witness = witness_key();
    let err = note
        .verify(&[log_key().verifier(), witness.verifier()])
        .unwrap_err();
    let key = format!("witness.example/w1+{:08x}", witness.key_id());
    assert_eq!(
        err,
        NoteError::BadSignature {
            number: 2,
            line: 6,
            key: key.clone(),
            problem: SignatureProblem::DoesNotVerify
        }
    );
    assert_eq!(
        err.to_string(),
        format!("signature 2 (key {key}, line 6): does not verify")
    );
    // Without the witness key, its signature is unknown and ignored.
    assert_eq!(note.verify(&[log_key().verifier()]).unwrap().len(), 1);
}

#[test]
fn a_note_without_a_known_signature_is_rejected() {
    let note = signed_note();
    let err = note.verify(&[]).unwrap_err();
    let signers = vec![
        format!("example.com/log+{:08x}", log_key().key_id()),
        format!("witness.example/w1+{:08x}", witness_key().key_id()),
    ];
    assert_eq!(
        err,
        NoteError::NoVerifiedSignature {
            signers: signers.clone()
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "none of the note's 2 signature(s) is from a known key (signed by: {})",
            signers.join(", ")
        )
    );
    let other = key("stranger.example", KeyKind::NoteSigner, 5).verifier();
    assert!(matches!(
        note.verify(&[other]),
        Err(NoteError::NoVerifiedSignature { .. })
    ));
}

#[test]
fn identical_signature_lines_verify_once() {
    let mut note = signed_note();
    note.signatures.push(note.signatures[0].clone());
    note.signatures.push(note.signatures[1].clone());
    let verified = note
        .verify(&[log_key().verifier(), witness_key().verifier()])
        .unwrap();
    assert_eq!(verified.iter().map(|v| v.index).collect::<Vec<_>>(), [0, 1]);
    // Listing a key twice is harmless.
    let log = log_key().verifier();
    assert_eq!(note.verify(&[log.clone(), log]).unwrap().len(), 1);
}

#[test]
fn two_different_known_keys_with_one_name_and_key_id_are_ambiguous() {
    // Two seeds whose public keys collide on the 32-bit key ID under this
    // name, found by a birthday search; the spec points out how cheap such
    // collisions are, which is why the verifier must not guess.
    let seed = |n: u64| {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&n.to_be_bytes());
        seed
    };
    let a = SignerKey::from_seed(
        name("collide.example/key"),
        KeyKind::NoteSigner,
        &seed(130000),
    );
    let b = SignerKey::from_seed(
        name("collide.example/key"),
        KeyKind::NoteSigner,
        &seed(143867),
    );
    assert_eq!(a.key_id(), 0x09827a0a);
    assert_eq!(b.key_id(), 0x09827a0a);
    assert_ne!(a.verifier(), b.verifier());
    let mut note = Note::new("text\n").unwrap();
    note.sign(&a).unwrap();
    assert_eq!(
        note.verify(&[a.verifier(), b.verifier()]),
        Err(NoteError::AmbiguousKey {
            key: "collide.example/key+09827a0a".into()
        })
    );
    assert_eq!(note.verify(&[a.verifier()]).unwrap().len(), 1);
    assert!(matches!(
        note.verify(&[b.verifier()]),
        Err(NoteError::BadSignature {
            problem: SignatureProblem::DoesNotVerify,
            ..
        })
    ));
}

#[test]
fn hand_built_notes_with_bad_text_are_refused() {
    for (text, want) in [
        (
            "no newline",
            NoteError::MissingFinalNewline { what: "note text" },
        ),
        ("", NoteError::MissingFinalNewline { what: "note text" }),
        (
            "tab\there\n",
            NoteError::ControlCharacter {
                line: 1,
                column: 4,
                code: 9,
            },
        ),
    ] {
        assert_eq!(Note::new(text), Err(want.clone()));
        let mut note = Note {
            text: text.into(),
            signatures: vec![],
        };
        assert_eq!(note.sign(&log_key()), Err(want.clone()));
        assert_eq!(note.verify(&[log_key().verifier()]), Err(want));
    }
}

// ------------------------------------------------------------ checkpoints

#[test]
fn checkpoints_round_trip() {
    let root = [0xab; 32];
    for checkpoint in [
        Checkpoint {
            origin: "example.com/log".into(),
            size: 0,
            root,
            extensions: vec![],
        },
        Checkpoint {
            origin: "o".into(),
            size: u64::MAX,
            root,
            extensions: vec!["ext one".into(), "— two".into()],
        },
        checkpoint(),
    ] {
        let text = checkpoint.to_text();
        assert_eq!(Checkpoint::parse_text(&text).unwrap(), checkpoint);
        checkpoint.check().unwrap();
        assert_eq!(checkpoint.to_note().unwrap().text, text);
    }
    assert_eq!(
        checkpoint().to_text(),
        "example.com/log\n20852163\nMDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXY=\n"
    );
}

#[test]
fn malformed_checkpoints_give_the_specific_error() {
    let root = b64(&[1; 32]);
    let value = |s: &str| s.to_owned();
    let cases: Vec<(String, NoteError)> = vec![
        (
            "".into(),
            NoteError::MissingFinalNewline {
                what: "checkpoint text",
            },
        ),
        (
            format!("log\n1\n{root}"),
            NoteError::MissingFinalNewline {
                what: "checkpoint text",
            },
        ),
        (
            "\n".into(),
            NoteError::CheckpointEmptyLine {
                line: 1,
                what: "origin",
            },
        ),
        (
            format!("\n1\n{root}\n"),
            NoteError::CheckpointEmptyLine {
                line: 1,
                what: "origin",
            },
        ),
        (
            "log\n".into(),
            NoteError::CheckpointMissingLine {
                line: 2,
                what: "tree size",
            },
        ),
        (
            "log\n5\n".into(),
            NoteError::CheckpointMissingLine {
                line: 3,
                what: "root hash",
            },
        ),
        (
            format!("log\n\n{root}\n"),
            NoteError::CheckpointEmptyLine {
                line: 2,
                what: "tree size",
            },
        ),
        (
            "log\n5\n\n".into(),
            NoteError::CheckpointEmptyLine {
                line: 3,
                what: "root hash",
            },
        ),
        (
            format!("log\n012\n{root}\n"),
            NoteError::TreeSizeLeadingZero {
                line: 2,
                value: value("012"),
            },
        ),
        (
            format!("log\n00\n{root}\n"),
            NoteError::TreeSizeLeadingZero {
                line: 2,
                value: value("00"),
            },
        ),
        (
            format!("log\n-1\n{root}\n"),
            NoteError::TreeSizeNotDecimal {
                line: 2,
                value: value("-1"),
            },
        ),
        (
            format!("log\n+1\n{root}\n"),
            NoteError::TreeSizeNotDecimal {
                line: 2,
                value: value("+1"),
            },
        ),
        (
            format!("log\n 1\n{root}\n"),
            NoteError::TreeSizeNotDecimal {
                line: 2,
                value: value(" 1"),
            },
        ),
        (
            format!("log\n1 \n{root}\n"),
            NoteError::TreeSizeNotDecimal {
                line: 2,
                value: value("1 "),
            },
        ),
        (
            format!("log\n1e3\n{root}\n"),
            NoteError::TreeSizeNotDecimal {
                line: 2,
                value: value("1e3"),
            },
        ),
        (
            format!("log\n０\n{root}\n"),
            NoteError::TreeSizeNotDecimal {
                line: 2,
                value: value("０"),
            },
        ),
        (
            format!("log\n18446744073709551616\n{root}\n"),
            NoteError::TreeSizeOverflow {
                line: 2,
                value: value("18446744073709551616"),
            },
        ),
        (
            format!("log\n1\n{}\n", b64(&[1; 31])),
            NoteError::RootHashLength { line: 3, len: 31 },
        ),
        (
            format!("log\n1\n{}\n", b64(&[1; 33])),
            NoteError::RootHashLength { line: 3, len: 33 },
        ),
        (
            "log\n1\nnot base64!\n".into(),
            NoteError::RootHashBase64 { line: 3 },
        ),
        (
            format!("log\n1\n{}\n", root.trim_end_matches('=')),
            NoteError::RootHashBase64 { line: 3 },
        ),
        // Non-canonical: the last character carries set padding bits.
        (
            format!("log\n1\n{}F=\n", &root[..42]),
            NoteError::RootHashBase64 { line: 3 },
        ),
        (
            format!("log\n1\n{root}\n\n"),
            NoteError::CheckpointEmptyLine {
                line: 4,
                what: "extension",
            },
        ),
        (
            format!("log\n1\n{root}\next\n\n"),
            NoteError::CheckpointEmptyLine {
                line: 5,
                what: "extension",
            },
        ),
        (
            format!("log\n1\n{root}\nex\u{7}t\n"),
            NoteError::ControlCharacter {
                line: 4,
                column: 3,
                code: 7,
            },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(Checkpoint::parse_text(&text), Err(want), "{text:?}");
    }
    assert_eq!(
        Checkpoint::parse_text(&format!("log\n18446744073709551615\n{root}\n"))
            .unwrap()
            .size,
        u64::MAX
    );
    assert_eq!(
        Checkpoint::parse_text(&format!("log\n0\n{root}\n"))
            .unwrap()
            .size,
        0
    );
}

#[test]
fn checkpoints_that_would_not_read_back_are_refused() {
    let mut bad = checkpoint();
    bad.origin = "a\n5".into();
    assert_eq!(
        bad.check(),
        Err(NoteError::CheckpointLineBreak {
            line: 1,
            what: "origin"
        })
    );
    assert_eq!(
        bad.to_note(),
        Err(NoteError::CheckpointLineBreak {
            line: 1,
            what: "origin"
        })
    );
    bad.origin = String::new();
    assert_eq!(
        bad.check(),
        Err(NoteError::CheckpointEmptyLine {
            line: 1,
            what: "origin"
        })
    );
    let mut bad = checkpoint();
    bad.extensions = vec!["fine".into(), String::new()];
    assert_eq!(
        bad.check(),
        Err(NoteError::CheckpointEmptyLine {
            line: 5,
            what: "extension"
        })
    );
    bad.extensions = vec!["fine".into(), "t\tab".into()];
    assert_eq!(
        bad.check(),
        Err(NoteError::ControlCharacter {
            line: 5,
            column: 2,
            code: 9
        })
    );
}

// ------------------------------------------------------------- properties

fn arb_checkpoint() -> impl Strategy<Value = Checkpoint> {
    (
        "[a-z0-9./-]{1,30}",
        any::<u64>(),
        any::<[u8; 32]>(),
        prop::collection::vec("[ -~]{1,20}|[^\\x00-\\x1f]{1,10}", 0..3),
    )
        .prop_map(|(origin, size, root, extensions)| Checkpoint {
            origin,
            size,
            root,
            extensions,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_checkpoint_signs_parses_and_verifies(checkpoint in arb_checkpoint(), seed: [u8; 32], time in 0..=i64::MAX as u64) {
        let log = SignerKey::from_seed(name("log.example"), KeyKind::NoteSigner, &seed);
        let witness = SignerKey::from_seed(name("w.example"), KeyKind::Cosigner, &seed);
        let mut note = checkpoint.to_note().unwrap();
        note.sign(&log).unwrap();
        note.cosign(&witness, time).unwrap();
        let wire = note.to_string();
        let parsed = Note::parse(&wire).unwrap();
        prop_assert_eq!(&parsed, &note);
        prop_assert_eq!(parsed.to_string(), wire);
        let verified = parsed.verify(&[log.verifier(), witness.verifier()]).unwrap();
        prop_assert_eq!(verified.len(), 2);
        prop_assert_eq!(verified[1].timestamp, Some(time));
        prop_assert_eq!(Checkpoint::parse_text(&parsed.text).unwrap(), checkpoint);
    }

    #[test]
    fn parsing_never_panics_and_what_parses_round_trips(
        pieces in prop::collection::vec(prop_oneof![
            Just("\n".to_owned()),
            Just("— ".to_owned()),
            Just(" ".to_owned()),
            Just("+".to_owned()),
            Just("AQIDBAUGBwg=".to_owned()),
            Just("=".to_owned()),
            "[a-zA-Z0-9/]{1,6}",
            "[\\x00-\\x1f]",
        ], 0..24)
    ) {
        let input = pieces.concat();
        if let Ok(note) = Note::parse(&input) {
            prop_assert_eq!(note.to_string(), input.clone());
        }
        if let Ok(checkpoint) = Checkpoint::parse_text(&input) {
            prop_assert_eq!(checkpoint.to_text(), input.clone());
        }
        if let Ok(key) = input.parse::<VerifierKey>() {
            prop_assert_eq!(key.to_string(), input);
        }
    }
}
