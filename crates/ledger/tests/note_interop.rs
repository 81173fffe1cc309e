//! Known-answer tests of `portreeve_ledger::note` against values published
//! by other implementations of C2SP signed notes, checkpoints and
//! cosignatures. Each vector names where it was published. A signature
//! that verifies under a published key could only have been made by that
//! key's holder with their implementation, so these tests show that notes
//! and keys cross between this crate and the others in both directions.

use portreeve_ledger::note::{
    Checkpoint, KeyError, KeyKind, KeyName, Note, NoteError, NoteSignature, SignatureProblem,
    SignerKey, VerifierKey,
};

// golang.org/x/mod/sumdb/note: the package documentation and
// example_test.go (ExampleSign, ExampleOpen) and note_test.go (TestOpen,
// TestVerifierList).
const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                       then you don't know what your problem is.\n";
const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

// The Go checksum database's public key, as built into cmd/go, and a
// signed tree head it published, as quoted in transparency-dev/formats
// (log/note_test.go, TestSumDBNoteParsing).
const SUMDB_VKEY: &str = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
const SUMDB_NOTE: &str = "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n\
                          — sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n";

// A checkpoint published by the arche2025h1 static-ct log of
// transparency.dev with the cosignatures of four witnesses, as quoted in
// the tests of the tlog_scales Python package (TestCheckpointSigning).
// remora.n621.de's key also appears in transparency-dev/formats
// (note/note_cosigv1_test.go, TestCoSigV1NewVerifier). The first log line
// is an RFC 6962 tree head signature (type 0x05), which this crate does
// not implement and must ignore.
const ARCHE_VKEY: &str =
    "arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f";
const REMORA_VKEY: &str = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2";
const ARCHE_TEXT: &str = "arche2025h1.staging.ct.transparency.dev\n1432088532\nU7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=\n";
const ARCHE_SIGS: &str = "\
— arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=
— arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=
— transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==
— witness1.smartit.nu/witness1 pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==
— remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==
— witness.stagemole.eu Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==
";

fn vkey(s: &str) -> VerifierKey {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn arche_note() -> String {
    format!("{ARCHE_TEXT}\n{ARCHE_SIGS}")
}

// ------------------------------------------------------ Go sumdb/note

#[test]
fn go_signer_key_parses_and_derives_the_published_verifier_key() {
    let signer: SignerKey = PETER_SKEY.parse().unwrap();
    assert_eq!(signer.name().as_str(), "PeterNeumann");
    assert_eq!(signer.kind(), KeyKind::NoteSigner);
    assert_eq!(signer.key_id(), 0xc74f20a3);
    assert_eq!(signer.to_string(), PETER_SKEY);
    assert_eq!(signer.verifier().to_string(), PETER_VKEY);
    assert_eq!(signer.verifier(), vkey(PETER_VKEY));
}

#[test]
fn signing_the_go_example_reproduces_its_signature_exactly() {
    let signer: SignerKey = PETER_SKEY.parse().unwrap();
    let mut note = Note::new(GO_TEXT).unwrap();
    note.sign(&signer).unwrap();
    assert_eq!(note.to_string(), format!("{GO_TEXT}\n{PETER_SIG}"));
}

#[test]
fn the_go_example_note_verifies() {
    let note = Note::parse(&format!("{GO_TEXT}\n{PETER_SIG}")).unwrap();
    assert_eq!(note.text, GO_TEXT);
    let verified = note.verify(&[vkey(PETER_VKEY)]).unwrap();
    assert_eq!(verified.len(), 1);
    assert_eq!(verified[0].key, vkey(PETER_VKEY));
    assert_eq!(verified[0].timestamp, None);
}

#[test]
fn go_open_cases_behave_as_in_go() {
    let (peter, enoch) = (vkey(PETER_VKEY), vkey(ENOCH_VKEY));
    let both = format!("{GO_TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    let note = Note::parse(&both).unwrap();
    assert_eq!(note.to_string(), both);
    assert_eq!(note.signatures[1].key_id, 0xaf0cfe78);

    // One verified, one ignored.
    let verified = note.verify(std::slice::from_ref(&peter)).unwrap();
    assert_eq!((verified.len(), verified[0].index), (1, 0));
    // Both verified.
    let verified = note.verify(&[peter.clone(), enoch.clone()]).unwrap();
    assert_eq!(verified.iter().map(|v| v.index).collect::<Vec<_>>(), [0, 1]);
    // Neither known.
    assert!(matches!(
        note.verify(&[]),
        Err(NoteError::NoVerifiedSignature { .. })
    ));

    // Four base64 characters spliced into Peter's signature.
    let spliced = format!("{GO_TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    let err = Note::parse(&spliced)
        .unwrap()
        .verify(std::slice::from_ref(&peter))
        .unwrap_err();
    assert!(
        matches!(
            err,
            NoteError::BadSignature {
                number: 1,
                line: 4,
                problem: SignatureProblem::WrongLength { len: 67, .. },
                ..
            }
        ),
        "{err:?}"
    );

    // Duplicated verified and unverified signatures.
    let duplicated = format!(
        "{GO_TEXT}\n{PETER_SIG}{PETER_SIG}{ENOCH_SIG}{ENOCH_SIG}{}ABCD{}",
        &ENOCH_SIG[..60],
        &ENOCH_SIG[60..]
    );
    let verified = Note::parse(&duplicated)
        .unwrap()
        .verify(std::slice::from_ref(&peter))
        .unwrap();
    assert_eq!(verified.len(), 1);

    // Go caps notes at 100 signatures, as this crate does.
    let many = format!("{GO_TEXT}\n{}", PETER_SIG.repeat(101));
    assert!(matches!(
        Note::parse(&many),
        Err(NoteError::TooManySignatures { count: 101, .. })
    ));
    let hundred = format!("{GO_TEXT}\n{}", PETER_SIG.repeat(100));
    assert_eq!(
        Note::parse(&hundred)
            .unwrap()
            .verify(&[peter])
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn go_malformed_notes_are_malformed_here_too() {
    let cases = [
        (GO_TEXT.to_owned(), NoteError::MissingBlankLine),
        (format!("{GO_TEXT}\n"), NoteError::NoSignatures { line: 3 }),
        (
            format!("{GO_TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
            NoteError::MissingFinalNewline { what: "note" },
        ),
        (
            format!("\u{1}{GO_TEXT}\n{PETER_SIG}"),
            NoteError::ControlCharacter {
                line: 1,
                column: 1,
                code: 1,
            },
        ),
        (
            format!("{GO_TEXT}\n{PETER_SIG}Unexpected line.\n"),
            NoteError::SignaturePrefix { line: 5 },
        ),
    ];
    for (note, want) in cases {
        assert_eq!(Note::parse(&note), Err(want), "{note:?}");
    }
    // A name with a space: the ASCII space ends the name, and what follows
    // is not base64.
    let bad_name = format!(
        "{GO_TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    );
    assert_eq!(
        Note::parse(&bad_name),
        Err(NoteError::SignatureBase64 { line: 4 })
    );
    let mut bytes = b"\xff".to_vec();
    bytes.extend_from_slice(format!("{GO_TEXT}\n{PETER_SIG}").as_bytes());
    assert_eq!(
        Note::from_bytes(&bytes),
        Err(NoteError::InvalidUtf8 { line: 1 })
    );
}

#[test]
fn every_mangling_of_the_go_verifier_key_is_refused() {
    // As Go's TestNewVerifier.
    assert_every_mangling_refused::<VerifierKey>(PETER_VKEY);
    // Go's own two: a wrong length and an unknown algorithm, each with a
    // key ID that matches its bytes. Go's lenient base64 decodes the
    // first; here it is refused sooner, because its last character has
    // padding bits set (canonical base64 is what makes keys round-trip).
    let err = "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        .parse::<VerifierKey>()
        .unwrap_err();
    assert!(
        matches!(
            err,
            NoteError::Key {
                problem: KeyError::Base64,
                ..
            }
        ),
        "{err:?}"
    );
    // The same bytes in canonical form reach the length check.
    let err = "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEQ=="
        .parse::<VerifierKey>()
        .unwrap_err();
    assert!(
        matches!(
            err,
            NoteError::Key {
                problem: KeyError::Length { len: 36, want: 32 },
                ..
            }
        ),
        "{err:?}"
    );
    let err = "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        .parse::<VerifierKey>()
        .unwrap_err();
    assert!(
        matches!(
            err,
            NoteError::Key {
                problem: KeyError::UnknownType { type_byte: 0x65 },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn every_mangling_of_the_go_signer_key_is_refused() {
    // As Go's TestNewSigner.
    assert_every_mangling_refused::<SignerKey>(PETER_SKEY);
}

/// Every proper substring of `key`, and every string with one byte of it
/// incremented, fails to parse as a `K`.
fn assert_every_mangling_refused<K: std::str::FromStr>(key: &str) {
    let key = key.as_bytes();
    for i in 0..=key.len() {
        for j in i + 1..=key.len() {
            if (i, j) != (0, key.len()) {
                let s = std::str::from_utf8(&key[i..j]).unwrap();
                assert!(s.parse::<K>().is_err(), "{s}");
            }
        }
    }
    for i in 0..key.len() {
        let mut mangled = key.to_vec();
        mangled[i] += 1;
        let s = String::from_utf8(mangled).unwrap();
        assert!(s.parse::<K>().is_err(), "{s}");
    }
}

#[test]
fn the_go_enoch_root_key_is_the_all_zero_seed() {
    // EnochRoot's verifier key in Go's tests is that of the all-zero
    // Ed25519 seed; with it, its published signature can be reproduced.
    let enoch = SignerKey::from_seed(
        KeyName::new("EnochRoot").unwrap(),
        KeyKind::NoteSigner,
        &[0; 32],
    );
    assert_eq!(enoch.verifier().to_string(), ENOCH_VKEY);
    let mut note = Note::new(GO_TEXT).unwrap();
    note.sign(&enoch).unwrap();
    assert_eq!(note.to_string(), format!("{GO_TEXT}\n{ENOCH_SIG}"));
}

// ------------------------------------------------ Go checksum database

#[test]
fn a_real_go_checksum_database_tree_head_verifies() {
    // The key data contains '+', which must not be taken for a separator.
    let key = vkey(SUMDB_VKEY);
    assert_eq!(key.to_string(), SUMDB_VKEY);
    assert_eq!(key.key_id(), 0x033de0ae);
    let note = Note::parse(SUMDB_NOTE).unwrap();
    assert_eq!(note.to_string(), SUMDB_NOTE);
    assert_eq!(note.verify(std::slice::from_ref(&key)).unwrap().len(), 1);
    let checkpoint = Checkpoint::parse_text(&note.text).unwrap();
    assert_eq!(checkpoint.origin, "go.sum database tree");
    assert_eq!(checkpoint.size, 6476701);
    assert_eq!(checkpoint.to_text(), note.text);

    let tampered = Note::parse(&SUMDB_NOTE.replace("6476701", "6476702")).unwrap();
    assert!(matches!(
        tampered.verify(&[key]),
        Err(NoteError::BadSignature { .. })
    ));
}

// ------------------------------------ witnessed checkpoint, cosignatures

#[test]
fn a_real_witnessed_checkpoint_verifies_with_log_and_witness_keys() {
    let (log, remora) = (vkey(ARCHE_VKEY), vkey(REMORA_VKEY));
    assert_eq!(log.kind(), KeyKind::NoteSigner);
    assert_eq!(remora.kind(), KeyKind::Cosigner);
    assert_eq!(remora.key_id(), 0xda77ade7);
    assert_eq!(remora.to_string(), REMORA_VKEY);

    let wire = arche_note();
    let note = Note::parse(&wire).unwrap();
    assert_eq!(note.to_string(), wire);
    assert_eq!(note.signatures.len(), 6);

    let verified = note.verify(&[log.clone(), remora.clone()]).unwrap();
    assert_eq!(verified.len(), 2);
    assert_eq!((verified[0].index, verified[0].timestamp), (1, None));
    assert_eq!(verified[0].key, log);
    // The cosignature's timestamp, 2026-05-23T21:50:24Z.
    assert_eq!(
        (verified[1].index, verified[1].timestamp),
        (4, Some(1779573024))
    );
    assert_eq!(verified[1].key, remora);

    let checkpoint = Checkpoint::parse_text(&note.text).unwrap();
    assert_eq!(checkpoint.origin, "arche2025h1.staging.ct.transparency.dev");
    assert_eq!(checkpoint.size, 1432088532);
    assert_eq!(checkpoint.to_text(), ARCHE_TEXT);
}

#[test]
fn the_real_cosignature_alone_verifies_and_resists_tampering() {
    let remora = vkey(REMORA_VKEY);
    let note = Note::parse(&arche_note()).unwrap();
    let verified = note.verify(std::slice::from_ref(&remora)).unwrap();
    assert_eq!(verified.len(), 1);
    assert_eq!(verified[0].timestamp, Some(1779573024));

    // Another size, or another claimed time, breaks the cosignature.
    let other_size = Note::parse(&arche_note().replace("1432088532", "1432088533")).unwrap();
    assert!(matches!(
        other_size.verify(std::slice::from_ref(&remora)),
        Err(NoteError::BadSignature {
            number: 5,
            line: 9,
            problem: SignatureProblem::DoesNotVerify,
            ..
        })
    ));
    let mut other_time = note.clone();
    other_time.signatures[4].signature[7] ^= 1;
    assert!(matches!(
        other_time.verify(std::slice::from_ref(&remora)),
        Err(NoteError::BadSignature {
            number: 5,
            problem: SignatureProblem::DoesNotVerify,
            ..
        })
    ));
}

#[test]
fn the_witness_key_as_a_note_signer_does_not_accept_its_cosignature() {
    // Same name and public key, but type 0x01: another key ID, so the
    // cosignature is from an unknown key.
    let remora = vkey(REMORA_VKEY);
    let as_signer = VerifierKey::new(
        remora.name().clone(),
        KeyKind::NoteSigner,
        *remora.public_key(),
    );
    assert_ne!(as_signer.key_id(), remora.key_id());
    let note = Note::parse(&arche_note()).unwrap();
    assert!(matches!(
        note.verify(&[as_signer]),
        Err(NoteError::NoVerifiedSignature { .. })
    ));
}

#[test]
fn the_c2sp_cosignature_example_decodes() {
    // c2sp.org/tlog-cosignature's example. The specification does not
    // publish the witness's public key, so the cosignature can only be
    // decoded, not verified: key ID, and the timestamp of the example's
    // signed message ("time 1679315147").
    let example = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\
                   — example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\
                   — witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";
    let note = Note::parse(example).unwrap();
    assert_eq!(note.to_string(), example);
    let cosignature = &note.signatures[1];
    assert_eq!(cosignature.name.as_str(), "witness.example.com/w1");
    assert_eq!(cosignature.key_id, 0x8d66cf3f);
    assert_eq!(cosignature.cosignature_timestamp(), Some(1679315147));
    assert_eq!(note.signatures[0].cosignature_timestamp(), None);
    let checkpoint = Checkpoint::parse_text(&note.text).unwrap();
    assert_eq!(
        (checkpoint.origin.as_str(), checkpoint.size),
        ("example.com/behind-the-sofa", 20852163)
    );
}

#[test]
fn the_transparency_dev_cosignature_timestamp_decodes() {
    // transparency-dev/formats note/note_cosigv1_test.go, TestCoSigV1Timestamp.
    let line = "— w ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==\n";
    let note = Note::parse(&format!("t\n\n{line}")).unwrap();
    let NoteSignature { key_id, .. } = note.signatures[0];
    assert_eq!(key_id, 0x646846b9);
    assert_eq!(note.signatures[0].cosignature_timestamp(), Some(1727964367));
}

#[test]
fn transparency_dev_verifier_keys_parse_or_fail_as_there() {
    // transparency-dev/formats note/note_cosigv1_test.go, TestCoSigV1NewVerifier.
    let plus = vkey("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6");
    assert_eq!(
        (plus.name().as_str(), plus.kind(), plus.key_id()),
        ("TEST", KeyKind::NoteSigner, 0x7997405c)
    );
    assert_eq!(
        plus.to_string(),
        "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
    );
    for (bad, want) in [
        ("bananas.sigstore.dev+12344556", KeyError::Format),
        (
            "rekor.sigstore.dev+12345678+THIS_IS_NOT_BASE64!",
            KeyError::Base64,
        ),
        (
            "rekor.sigstore.dev+12345678+AwEB",
            KeyError::UnknownType { type_byte: 3 },
        ),
        (
            "rekor.sigstore.dev+NOT_A_NUMBER+AwEB",
            KeyError::KeyIdSyntax {
                found: "NOT_A_NUMBER".into(),
            },
        ),
    ] {
        match bad.parse::<VerifierKey>() {
            Err(NoteError::Key { problem, .. }) => assert_eq!(problem, want, "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
}

// ----------------------------------------------------- the other way

#[test]
fn notes_made_here_are_in_the_format_go_reads() {
    // Go's Open splits at the last "\n\n" and reads "— name base64" lines;
    // check the bytes of a note made here by those rules, independently of
    // this crate's parser.
    let signer: SignerKey = PETER_SKEY.parse().unwrap();
    let checkpoint = Checkpoint {
        origin: "example.com/log".into(),
        size: 1,
        root: [0; 32],
        extensions: vec![],
    };
    let mut note = checkpoint.to_note().unwrap();
    note.sign(&signer).unwrap();
    let wire = note.to_string();
    let (text, signatures) = wire.split_at(wire.rfind("\n\n").unwrap() + 1);
    assert_eq!(
        text,
        "example.com/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    );
    let line = signatures.strip_prefix("\n— PeterNeumann ").unwrap();
    assert!(line.ends_with("=\n") && !line[..line.len() - 1].contains('\n'));
}
