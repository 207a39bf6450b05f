//! Associated data binding a ciphertext to the row that owns it.

use std::fmt;

/// Identity of the row (and field) a secret belongs to.
///
/// Passed as AES-GCM associated data: it is not stored, but decryption only
/// succeeds when the caller supplies the same value, so a ciphertext copied
/// into another row or column is rejected.
///
/// Encoding: `kind` then a part count then each part, every string prefixed
/// with its length as a big-endian u64. Because everything is length-framed,
/// `["ab", "c"]` and `["a", "bc"]` (or a part containing a separator) can
/// never encode to the same bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Aad {
    encoded: Vec<u8>,
}

impl Aad {
    /// `kind` names the table or record type (e.g. `"installation"`); `parts`
    /// identify the row and field (e.g. tenant id, user id, `"refresh_token"`).
    pub fn new(kind: &str, parts: &[&str]) -> Self {
        let mut encoded =
            Vec::with_capacity(16 + kind.len() + parts.iter().map(|p| 8 + p.len()).sum::<usize>());
        push_framed(&mut encoded, kind.as_bytes());
        encoded.extend_from_slice(&(parts.len() as u64).to_be_bytes());
        for part in parts {
            push_framed(&mut encoded, part.as_bytes());
        }
        Self { encoded }
    }

    /// The exact bytes fed to AES-GCM (after the sealed value's header).
    pub fn as_bytes(&self) -> &[u8] {
        &self.encoded
    }
}

fn push_framed(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

impl fmt::Debug for Aad {
    // Row identities are not secret, but the framed bytes are unreadable;
    // the length is enough to tell two values apart in a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aad")
            .field("len", &self.encoded.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Aad;

    #[test]
    fn part_boundaries_are_unambiguous() {
        let a = Aad::new("t", &["ab", "c"]);
        let b = Aad::new("t", &["a", "bc"]);
        let c = Aad::new("t", &["abc"]);
        let d = Aad::new("ta", &["bc"]);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(b, c);
        assert_ne!(c, d);
    }

    #[test]
    fn empty_parts_still_count() {
        assert_ne!(Aad::new("t", &[]), Aad::new("t", &[""]));
        assert_ne!(Aad::new("t", &[""]), Aad::new("t", &["", ""]));
    }

    #[test]
    fn same_identity_same_bytes() {
        assert_eq!(
            Aad::new("installation", &["tenant", "7", "refresh_token"]),
            Aad::new("installation", &["tenant", "7", "refresh_token"])
        );
    }
}
