//! Key ring parsing, generation, and keeping key material out of messages.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use dealbridge_crypto::{ExposeSecret, KeyRing, KeyRingError};

/// Deterministic key material so failures are reproducible.
fn key_b64(fill: u8) -> String {
    STANDARD.encode([fill; 32])
}

/// Asserts neither the error's Display nor its Debug leaks `material`
/// (or a recognisable chunk of it).
fn assert_no_leak(err: &KeyRingError, material: &str) {
    let chunk = &material[..material.len().min(8)];
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains(chunk), "{shown:?} leaks key material");
    }
}

#[test]
fn parses_entries_in_order_with_first_active() {
    let text = format!(" k2:{} ,\n k1:{}\n", key_b64(2), key_b64(1));
    let ring = KeyRing::from_env_str(&text).unwrap();
    assert_eq!(ring.active_key_id(), "k2");
    assert_eq!(ring.key_ids().collect::<Vec<_>>(), ["k2", "k1"]);
    assert!(ring.contains("k1"));
    assert!(!ring.contains("k3"));
}

#[test]
fn empty_ring_is_an_error() {
    for text in ["", "   ", "\n"] {
        assert_eq!(
            KeyRing::from_env_str(text).unwrap_err(),
            KeyRingError::Empty
        );
    }
}

#[test]
fn empty_entry_is_an_error() {
    let text = format!("k1:{},", key_b64(1));
    let err = KeyRing::from_env_str(&text).unwrap_err();
    assert_eq!(err, KeyRingError::EmptyEntry { entry: 2 });
    assert_no_leak(&err, &key_b64(1));
}

#[test]
fn missing_separator_does_not_echo_the_entry() {
    let key = key_b64(7);
    let err = KeyRing::from_env_str(&key).unwrap_err();
    assert_eq!(err, KeyRingError::MissingSeparator { entry: 1 });
    assert_no_leak(&err, &key);
}

#[test]
fn reversed_entry_is_an_invalid_id_and_not_echoed() {
    let key = key_b64(7);
    let err = KeyRing::from_env_str(&format!("{key}:k1")).unwrap_err();
    assert!(
        matches!(err, KeyRingError::InvalidId { entry: 1, .. }),
        "{err:?}"
    );
    assert_no_leak(&err, &key);
}

#[test]
fn invalid_ids_are_rejected() {
    for id in ["", "K1", "a.b", &"a".repeat(33)] {
        let err = KeyRing::from_env_str(&format!("{id}:{}", key_b64(1))).unwrap_err();
        assert!(
            matches!(err, KeyRingError::InvalidId { entry: 1, .. }),
            "{id:?}: {err:?}"
        );
    }
}

#[test]
fn bad_base64_names_the_key_but_not_its_value() {
    let broken = format!("{}!", &key_b64(3)[..43]);
    let text = format!("k1:{},k2:{broken}", key_b64(1));
    let err = KeyRing::from_env_str(&text).unwrap_err();
    assert_eq!(
        err,
        KeyRingError::InvalidBase64 {
            entry: 2,
            id: "k2".into()
        }
    );
    assert_no_leak(&err, &broken);
    assert!(!err.to_string().contains('!'));
}

#[test]
fn url_safe_base64_is_not_accepted() {
    // 0xfb bytes encode to '+' in standard and '-' in URL-safe base64.
    let url_safe = "-".repeat(43) + "=";
    let err = KeyRing::from_env_str(&format!("k1:{url_safe}")).unwrap_err();
    assert!(matches!(err, KeyRingError::InvalidBase64 { .. }), "{err:?}");
}

#[test]
fn wrong_key_length_reports_the_length_only() {
    for len in [0usize, 16, 31, 33, 64] {
        let key = STANDARD.encode(vec![9u8; len]);
        let err = KeyRing::from_env_str(&format!("k1:{key}")).unwrap_err();
        assert_eq!(
            err,
            KeyRingError::WrongKeyLength {
                entry: 1,
                id: "k1".into(),
                len
            }
        );
        if !key.is_empty() {
            assert_no_leak(&err, &key);
        }
    }
}

#[test]
fn duplicate_ids_are_an_error() {
    let text = format!("k1:{},k2:{},k1:{}", key_b64(1), key_b64(2), key_b64(3));
    let err = KeyRing::from_env_str(&text).unwrap_err();
    assert_eq!(err, KeyRingError::DuplicateId { id: "k1".into() });
    assert_no_leak(&err, &key_b64(1));
    assert_no_leak(&err, &key_b64(3));
}

#[test]
fn debug_shows_ids_only() {
    let text = format!("new:{},old:{}", key_b64(5), key_b64(6));
    let ring = KeyRing::from_env_str(&text).unwrap();
    let shown = format!("{ring:?}");
    assert_eq!(shown, r#"KeyRing { active: "new", keys: ["new", "old"] }"#);
}

#[test]
fn generated_entries_parse_and_differ() {
    let (ring, entry) = KeyRing::generate("sandbox").unwrap();
    assert_eq!(ring.active_key_id(), "sandbox");
    let text = entry.expose_secret();
    let (id, key) = text.split_once(':').unwrap();
    assert_eq!(id, "sandbox");
    assert_eq!(key.len(), 44, "32 bytes of padded standard base64");
    assert!(!format!("{entry:?}").contains(key));

    let other = KeyRing::generate_entry("sandbox").unwrap();
    assert_ne!(other.expose_secret(), text);
    assert!(KeyRing::from_env_str(other.expose_secret()).is_ok());
}

#[test]
fn generate_rejects_invalid_ids() {
    assert!(matches!(
        KeyRing::generate_entry("Not Valid"),
        Err(KeyRingError::InvalidId { .. })
    ));
}
