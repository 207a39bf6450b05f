//! The secrets of the event sources, sealed with the token vault's key ring and bound to the
//! tenant and the row they belong to: a ciphertext copied to another row or tenant does not open.

use dealbridge_core::TenantId;
use dealbridge_crypto::{Aad, CryptoError, KeyRing, Sealed, SecretString};
use uuid::Uuid;

/// Which secret of a row a ciphertext holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretRole {
    /// An event API signing secret (`whsec_...`).
    EventApiSecret,
    /// A store connection's webhook secret (Shopify, WooCommerce) or store key (API2Cart).
    StoreSecret,
    /// The token an API2Cart connection's callback URL carries.
    CallbackToken,
}

impl SecretRole {
    fn aad(self, tenant: TenantId, row: Uuid) -> Aad {
        let (kind, part) = match self {
            Self::EventApiSecret => ("event_api_secret", "secret"),
            Self::StoreSecret => ("store_connection", "secret"),
            Self::CallbackToken => ("store_connection", "callback_token"),
        };
        Aad::new(kind, &[&tenant.to_string(), &row.to_string(), part])
    }
}

/// Says nothing about which part failed: no oracle for tampering.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("a stored secret could not be opened")]
    Open(#[source] CryptoError),
    #[error("a secret could not be sealed")]
    Seal(#[source] CryptoError),
}

pub fn seal(
    keys: &KeyRing,
    role: SecretRole,
    tenant: TenantId,
    row: Uuid,
    secret: &SecretString,
) -> Result<Vec<u8>, SealError> {
    let sealed = keys
        .encrypt(secret, &role.aad(tenant, row))
        .map_err(SealError::Seal)?;
    Ok(sealed.into_bytes())
}

pub fn open(
    keys: &KeyRing,
    role: SecretRole,
    tenant: TenantId,
    row: Uuid,
    sealed: &[u8],
) -> Result<SecretString, SealError> {
    let sealed = Sealed::from_bytes(sealed).map_err(SealError::Open)?;
    keys.decrypt(&sealed, &role.aad(tenant, row))
        .map_err(SealError::Open)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dealbridge_crypto::ExposeSecret;

    #[test]
    fn a_sealed_secret_opens_only_for_its_tenant_row_and_role() {
        let (keys, _) = KeyRing::generate("k1").expect("key ring");
        let (tenant, row) = (TenantId::new(), Uuid::now_v7());
        let secret = SecretString::from("whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=".to_owned());
        let sealed = seal(&keys, SecretRole::StoreSecret, tenant, row, &secret).expect("seal");
        assert!(!sealed
            .windows(secret.expose_secret().len())
            .any(|w| w == secret.expose_secret().as_bytes()));
        let opened = open(&keys, SecretRole::StoreSecret, tenant, row, &sealed).expect("open");
        assert_eq!(opened.expose_secret(), secret.expose_secret());
        assert!(open(
            &keys,
            SecretRole::StoreSecret,
            TenantId::new(),
            row,
            &sealed
        )
        .is_err());
        assert!(open(
            &keys,
            SecretRole::StoreSecret,
            tenant,
            Uuid::now_v7(),
            &sealed
        )
        .is_err());
        assert!(open(&keys, SecretRole::CallbackToken, tenant, row, &sealed).is_err());
    }
}
