//! Key id syntax, shared by the key ring parser and the sealed-value parser.

/// Longest key id accepted. Ids travel in every stored value and in an
/// indexed database column, so they are kept short.
pub const MAX_KEY_ID_LEN: usize = 32;

/// Checks `id` is 1..=32 chars of `[a-z0-9_-]`.
///
/// The restricted alphabet keeps ids distinguishable from base64 key
/// material (no uppercase, `+`, `/` or `=`), which is what lets error
/// messages print ids safely.
pub(crate) fn validate(id: &str) -> Result<(), &'static str> {
    if id.is_empty() {
        return Err("it is empty");
    }
    if id.len() > MAX_KEY_ID_LEN {
        return Err("it is longer than 32 characters");
    }
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-';
    if !id.bytes().all(allowed) {
        return Err("only a-z, 0-9, '_' and '-' are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_the_documented_alphabet() {
        assert!(validate("k2026-11_a").is_ok());
        assert!(validate(&"a".repeat(32)).is_ok());
    }

    #[test]
    fn rejects_everything_else() {
        for bad in ["", "UPPER", "a+b", "a/b", "a=", "a b", "é", &"a".repeat(33)] {
            assert!(validate(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
