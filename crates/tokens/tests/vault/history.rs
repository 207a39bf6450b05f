//! Every refresh that reaches the OAuth server is recorded for the support console's timeline,
//! with how it ended: refreshed, failed (the server could not be reached) or refused (the
//! installation now needs reauthorisation). Refreshes that found new tokens already stored send
//! nothing and record nothing.

use super::*;
use dealbridge_storage::RefreshOutcome;

pub(super) async fn each_refresh_sent_is_recorded(backend: Backend) -> anyhow::Result<Cleanup> {
    let (env, cleanup) = Env::start(backend, true, quick()).await?;
    // The install's access token has expired: this refreshes, once for both vaults.
    env.vaults[0]
        .source(env.tenant.id, env.user)
        .access_token()
        .await?;
    env.vaults[1]
        .source(env.tenant.id, env.user)
        .access_token()
        .await?;

    // Nothing listens on the discard port: the refresh cannot be sent.
    let unreachable = Pipedrive::new(
        PipedriveConfig::new(
            "http://127.0.0.1:9".parse()?,
            CLIENT_ID,
            SecretString::from(CLIENT_SECRET),
            CALLBACK.parse()?,
        ),
        Arc::new(InMemoryLedger::new(LedgerConfig::default())),
    )?;
    let cut_off = TokenVault::with_config(
        env.stores[0].clone(),
        env.keys.clone(),
        unreachable.oauth().clone(),
        quick(),
    );
    match cut_off
        .source(env.tenant.id, env.user)
        .force_refresh()
        .await
    {
        Err(TokenError::Unavailable { .. }) => {}
        other => anyhow::bail!("expected Unavailable, got {other:?}"),
    }

    // Spend the stored refresh token behind the vault's back (rotation makes it single use).
    let stored = env.stored_refresh_token().await?;
    env.oauth().refresh(&stored).await?;
    match env.vaults[0]
        .source(env.tenant.id, env.user)
        .force_refresh()
        .await
    {
        Err(TokenError::NeedsReauth(_)) => {}
        other => anyhow::bail!("expected NeedsReauth, got {other:?}"),
    }

    let recorded = env.stores[1]
        .token_refreshes(env.tenant.id, None, 10)
        .await?;
    let outcomes: Vec<_> = recorded.iter().map(|r| r.outcome).collect();
    anyhow::ensure!(
        outcomes
            == [
                RefreshOutcome::Refused,
                RefreshOutcome::Failed,
                RefreshOutcome::Refreshed
            ],
        "newest first: {outcomes:?}"
    );
    anyhow::ensure!(
        recorded.iter().all(|r| r.user_id == env.user),
        "the installation's user"
    );
    anyhow::ensure!(recorded[2].reason.is_none(), "a success needs no reason");
    for refresh in &recorded[..2] {
        let reason = refresh.reason.as_deref().unwrap_or_default();
        anyhow::ensure!(!reason.is_empty(), "{:?} says why", refresh.outcome);
        anyhow::ensure!(
            !reason.contains(stored.expose_secret()),
            "a token in the reason: {reason}"
        );
    }
    Ok(cleanup)
}
