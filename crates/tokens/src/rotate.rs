//! Key rotation: re-encrypts every stored token pair that is not under the key ring's active key.

use dealbridge_core::installation::SealedTokens;
use dealbridge_core::{CompanyId, UserId};
use dealbridge_crypto::{CryptoError, KeyRing, Sealed};
use dealbridge_storage::{StaleKeyTokens, Store};

use crate::seal::aad;
use crate::vault::VaultError;

/// Counts of one [`rotate_keys`] run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyRotation {
    /// Rows found under another key.
    pub scanned: u64,
    /// Rows now under the active key.
    pub reencrypted: u64,
    /// Rows whose tokens changed between reading and writing (a refresh or reinstall wrote new
    /// tokens, already under the active key of that process). Nothing to do for them.
    pub changed_meanwhile: u64,
    /// Rows that could not be re-encrypted (key missing from the ring, or a value that does not
    /// decrypt for its row). They stay as they are; the next run tries them again.
    pub failed: u64,
    /// Rows still not under the active key after the run (counted at the end).
    pub remaining: u64,
}

/// Re-encrypts, `batch_size` rows at a time, every installation's tokens not sealed under the
/// ring's active key, with the same associated data. Each row is written by a conditional update
/// that only applies if the row still holds what was read, so it runs safely while the app
/// serves. Rows that fail are skipped (never retried within the run), so the run always ends;
/// running it again resumes with whatever is left.
pub async fn rotate_keys(
    store: &dyn Store,
    keys: &KeyRing,
    batch_size: u32,
) -> Result<KeyRotation, VaultError> {
    let active = keys.active_key_id();
    let mut counts = KeyRotation::default();
    let mut after = None;
    loop {
        let batch = store
            .tokens_not_under_key(active, after, batch_size.max(1))
            .await?;
        let Some(last) = batch.last() else { break };
        after = Some((last.tenant_id, last.user_id));
        for row in batch {
            counts.scanned += 1;
            let reencrypted = match reencrypt(keys, row.company_id, row.user_id, &row.tokens) {
                Ok(reencrypted) => reencrypted,
                Err(error) => {
                    tracing::warn!(
                        tenant.id = %row.tenant_id,
                        user.id = %row.user_id,
                        key.id = %row.tokens.key_id,
                        %error,
                        "tokens could not be re-encrypted"
                    );
                    counts.failed += 1;
                    continue;
                }
            };
            let StaleKeyTokens {
                tenant_id,
                user_id,
                tokens,
                ..
            } = &row;
            if store
                .replace_token_ciphertexts(*tenant_id, *user_id, tokens, &reencrypted)
                .await?
            {
                counts.reencrypted += 1;
            } else {
                counts.changed_meanwhile += 1;
            }
        }
    }
    counts.remaining = store.count_tokens_not_under_key(active).await?;
    Ok(counts)
}

fn reencrypt(
    keys: &KeyRing,
    company: CompanyId,
    user: UserId,
    tokens: &SealedTokens,
) -> Result<SealedTokens, CryptoError> {
    let access = Sealed::from_bytes(&tokens.access_token)?;
    let refresh = Sealed::from_bytes(&tokens.refresh_token)?;
    let access = keys.reencrypt(&access, &aad(company, user, "access_token"))?;
    let refresh = keys.reencrypt(&refresh, &aad(company, user, "refresh_token"))?;
    Ok(SealedTokens {
        access_token: access.into_bytes(),
        refresh_token: refresh.into_bytes(),
        key_id: keys.active_key_id().to_owned(),
        access_expires_at: tokens.access_expires_at,
    })
}
