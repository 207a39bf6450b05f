//! Encrypt/decrypt behaviour through the public API.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use dealbridge_crypto::{
    Aad, CryptoError, ExposeSecret, KeyRing, Sealed, SecretString, MAX_PLAINTEXT_LEN,
};

/// Deterministic key material so failures are reproducible.
pub fn key_b64(fill: u8) -> String {
    STANDARD.encode([fill; 32])
}

pub fn ring(spec: &[(&str, u8)]) -> KeyRing {
    let text = spec
        .iter()
        .map(|(id, fill)| format!("{id}:{}", key_b64(*fill)))
        .collect::<Vec<_>>()
        .join(",");
    KeyRing::from_env_str(&text).expect("test key ring parses")
}

pub fn row_aad(user: &str) -> Aad {
    Aad::new("installation", &["0f6e2b0c-tenant", user, "refresh_token"])
}

const TOKEN: &str = "v1u:AQIBAHj-refresh-token-value";

fn secret(text: &str) -> SecretString {
    SecretString::from(text)
}

#[test]
fn round_trip_text_bytes_and_storage_forms() {
    let ring = ring(&[("k1", 1)]);
    let aad = row_aad("42");
    let sealed = ring.encrypt(&secret(TOKEN), &aad).unwrap();
    assert_eq!(sealed.key_id(), "k1");
    assert_eq!(ring.key_id_of(&sealed), "k1");

    let from_bytea = Sealed::from_bytes(&sealed.to_bytes()).unwrap();
    let from_text = Sealed::from_base64(&sealed.to_base64()).unwrap();
    for stored in [&sealed, &from_bytea, &from_text] {
        assert_eq!(ring.decrypt(stored, &aad).unwrap().expose_secret(), TOKEN);
    }

    let binary = [0u8, 255, 7, 128];
    let sealed = ring.encrypt_bytes(&binary, &aad).unwrap();
    assert_eq!(
        ring.decrypt_bytes(&sealed, &aad).unwrap().expose_secret(),
        &binary
    );
    assert_eq!(
        ring.decrypt(&sealed, &aad).err(),
        Some(CryptoError::NotUtf8)
    );

    let empty = ring.encrypt(&secret(""), &aad).unwrap();
    assert_eq!(ring.decrypt(&empty, &aad).unwrap().expose_secret(), "");
}

#[test]
fn ciphertext_does_not_contain_the_plaintext() {
    let ring = ring(&[("k1", 1)]);
    let sealed = ring.encrypt(&secret(TOKEN), &row_aad("42")).unwrap();
    let bytes = sealed.to_bytes();
    assert!(!bytes
        .windows(8)
        .any(|w| TOKEN.as_bytes().windows(8).any(|t| t == w)));
}

#[test]
fn same_plaintext_encrypts_differently_each_time() {
    let ring = ring(&[("k1", 1)]);
    let aad = row_aad("42");
    let a = ring.encrypt(&secret(TOKEN), &aad).unwrap().to_bytes();
    let b = ring.encrypt(&secret(TOKEN), &aad).unwrap().to_bytes();
    // Header is "\x01\x02k1" (4 bytes), then the 12-byte nonce.
    assert_ne!(a[4..16], b[4..16], "nonces must be fresh");
    assert_ne!(a[16..], b[16..]);
}

#[test]
fn flipping_any_bit_region_is_rejected() {
    let ring = ring(&[("k1", 1)]);
    let aad = row_aad("42");
    let bytes = ring.encrypt(&secret(TOKEN), &aad).unwrap().to_bytes();
    let header_end = 4;
    let nonce_end = header_end + 12;
    let tag_start = bytes.len() - 16;
    for i in 0..bytes.len() {
        let region = match i {
            _ if i < header_end => "header",
            _ if i < nonce_end => "nonce",
            _ if i < tag_start => "body",
            _ => "tag",
        };
        for bit in [0x01u8, 0x80] {
            let mut tampered = bytes.clone();
            tampered[i] ^= bit;
            let result = Sealed::from_bytes(&tampered)
                .and_then(|s| ring.decrypt(&s, &aad))
                .err();
            assert!(
                result.is_some(),
                "{region} byte {i} bit {bit:#x} went unnoticed"
            );
            if region != "header" {
                assert_eq!(
                    result,
                    Some(CryptoError::DecryptionFailed),
                    "{region} byte {i}"
                );
            }
        }
    }
    // Truncation and extension are tampering too.
    for bad in [
        &bytes[..bytes.len() - 1],
        &[bytes.as_slice(), &[0]].concat()[..],
    ] {
        let result = Sealed::from_bytes(bad)
            .and_then(|s| ring.decrypt(&s, &aad))
            .err();
        assert_eq!(result, Some(CryptoError::DecryptionFailed));
    }
}

#[test]
fn key_id_in_header_is_authenticated() {
    // Two ids for the same key: only authenticating the header stops a value
    // being relabelled as belonging to the other id.
    let ring = ring(&[("ka", 1), ("kb", 1)]);
    let aad = row_aad("42");
    let mut bytes = ring.encrypt(&secret(TOKEN), &aad).unwrap().to_bytes();
    assert_eq!(&bytes[2..4], b"ka");
    bytes[3] = b'b';
    let relabelled = Sealed::from_bytes(&bytes).unwrap();
    assert_eq!(relabelled.key_id(), "kb");
    assert_eq!(
        ring.decrypt(&relabelled, &aad).err(),
        Some(CryptoError::DecryptionFailed)
    );
}

#[test]
fn ciphertext_moved_to_another_row_fails() {
    let ring = ring(&[("k1", 1)]);
    let sealed = ring.encrypt(&secret(TOKEN), &row_aad("42")).unwrap();
    let elsewhere = [
        row_aad("43"),
        Aad::new("installation", &["0f6e2b0c-tenant", "42", "access_token"]),
        Aad::new("webhook", &["0f6e2b0c-tenant", "42", "refresh_token"]),
    ];
    for aad in &elsewhere {
        assert_eq!(
            ring.decrypt(&sealed, aad).err(),
            Some(CryptoError::DecryptionFailed)
        );
    }
    assert!(ring.decrypt(&sealed, &row_aad("42")).is_ok());
}

#[test]
fn wrong_key_with_same_id_fails() {
    let sealed = ring(&[("k1", 1)])
        .encrypt(&secret(TOKEN), &row_aad("42"))
        .unwrap();
    let other = ring(&[("k1", 2)]);
    assert_eq!(
        other.decrypt(&sealed, &row_aad("42")).err(),
        Some(CryptoError::DecryptionFailed)
    );
}

#[test]
fn unknown_key_id_is_reported_by_id() {
    let sealed = ring(&[("old", 1)])
        .encrypt(&secret(TOKEN), &row_aad("42"))
        .unwrap();
    let err = ring(&[("new", 2)])
        .decrypt(&sealed, &row_aad("42"))
        .unwrap_err();
    assert_eq!(err, CryptoError::UnknownKeyId { id: "old".into() });
    assert!(err.to_string().contains("`old`"));
}

#[test]
fn rotation_keeps_everything_readable() {
    let aads: Vec<_> = (0..5).map(|i| row_aad(&i.to_string())).collect();
    let before = ring(&[("old", 1)]);
    let stored: Vec<Sealed> = aads
        .iter()
        .map(|aad| before.encrypt(&secret(TOKEN), aad).unwrap())
        .collect();
    assert!(stored.iter().all(|s| !before.needs_reencrypt(s)));

    // New active key in front; the old one stays for decryption.
    let during = ring(&[("new", 2), ("old", 1)]);
    assert_eq!(during.active_key_id(), "new");
    for (sealed, aad) in stored.iter().zip(&aads) {
        assert!(during.needs_reencrypt(sealed));
        assert_eq!(during.decrypt(sealed, aad).unwrap().expose_secret(), TOKEN);
    }
    let fresh = during.encrypt(&secret(TOKEN), &aads[0]).unwrap();
    assert_eq!(fresh.key_id(), "new");
    assert!(!during.needs_reencrypt(&fresh));

    let rotated: Vec<Sealed> = stored
        .iter()
        .zip(&aads)
        .map(|(sealed, aad)| during.reencrypt(sealed, aad).unwrap())
        .collect();
    assert!(rotated
        .iter()
        .all(|s| s.key_id() == "new" && !during.needs_reencrypt(s)));

    // Old key retired: rotated values still open, unrotated ones cannot.
    let after = ring(&[("new", 2)]);
    for (sealed, aad) in rotated.iter().zip(&aads) {
        assert_eq!(after.decrypt(sealed, aad).unwrap().expose_secret(), TOKEN);
    }
    assert!(matches!(
        after.decrypt(&stored[0], &aads[0]),
        Err(CryptoError::UnknownKeyId { .. })
    ));
}

#[test]
fn reencrypt_refuses_the_wrong_row() {
    let ring = ring(&[("new", 2), ("old", 1)]);
    let sealed = ring.encrypt(&secret(TOKEN), &row_aad("1")).unwrap();
    assert_eq!(
        ring.reencrypt(&sealed, &row_aad("2")),
        Err(CryptoError::DecryptionFailed)
    );
}

#[test]
fn oversized_plaintext_is_refused() {
    let ring = ring(&[("k1", 1)]);
    let aad = row_aad("42");
    assert!(ring
        .encrypt_bytes(&vec![0; MAX_PLAINTEXT_LEN], &aad)
        .is_ok());
    assert_eq!(
        ring.encrypt_bytes(&vec![0; MAX_PLAINTEXT_LEN + 1], &aad),
        Err(CryptoError::PlaintextTooLarge {
            len: MAX_PLAINTEXT_LEN + 1,
            max: MAX_PLAINTEXT_LEN
        })
    );
}

#[test]
fn debug_output_never_shows_plaintext() {
    let ring = ring(&[("k1", 1)]);
    let aad = row_aad("42");
    let sealed = ring.encrypt(&secret(TOKEN), &aad).unwrap();
    let opened = ring.decrypt(&sealed, &aad).unwrap();
    for shown in [
        format!("{sealed:?}"),
        format!("{opened:?}"),
        format!("{aad:?}"),
    ] {
        assert!(!shown.contains("refresh-token"), "{shown}");
    }
}
