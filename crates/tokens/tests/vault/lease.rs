//! The refresh lease goes back on every way out of a refresh: an error under the lease, and a
//! refresh that is cancelled while it waits for the OAuth server. Either way a second refresh (by
//! another process) is not held up until the lease's time-to-live (30 s here) runs out.

use super::*;

/// Whether nobody holds the lease now: takes it as "probe" and gives it straight back.
async fn lease_is_free(env: &Env) -> anyhow::Result<bool> {
    let now = Utc::now();
    let taken = env.stores[1]
        .acquire_refresh_lease(
            env.tenant.id,
            env.user,
            "probe",
            now,
            now + chrono::Duration::seconds(60),
        )
        .await?;
    if taken {
        env.stores[1]
            .release_refresh_lease(env.tenant.id, env.user, "probe")
            .await?;
    }
    Ok(taken)
}

/// Another process refreshes at once (well inside the lease's 30 s).
async fn other_process_refreshes_promptly(env: &Env) -> anyhow::Result<()> {
    tokio::time::timeout(
        Duration::from_secs(5),
        env.vaults[1].source(env.tenant.id, env.user).access_token(),
    )
    .await
    .context("the other process waited for a lease nobody should hold")??;
    anyhow::ensure!(
        env.refreshes() == (1, 0),
        "refreshes: {:?}",
        env.refreshes()
    );
    Ok(())
}

/// A vault whose key ring cannot open the stored tokens fails under the lease (it has taken the
/// lease before it opens the refresh token).
pub(super) async fn an_error_under_the_lease_releases_it(
    backend: Backend,
) -> anyhow::Result<Cleanup> {
    let (env, cleanup) = Env::start(backend, false, quick()).await?;
    let (wrong_keys, _) = KeyRing::generate("k1")?;
    let broken = TokenVault::with_config(
        env.stores[0].clone(),
        Arc::new(wrong_keys),
        env.oauth().clone(),
        quick(),
    );
    match broken.source(env.tenant.id, env.user).access_token().await {
        Err(TokenError::Unavailable { .. }) => {}
        other => anyhow::bail!("expected Unavailable, got {other:?}"),
    }
    anyhow::ensure!(
        env.refreshes() == (0, 0),
        "sent a refresh: {:?}",
        env.refreshes()
    );
    // Released before the error was returned, not left to a background task.
    anyhow::ensure!(
        lease_is_free(&env).await?,
        "the failed refresh kept the lease"
    );
    other_process_refreshes_promptly(&env).await?;
    Ok(cleanup)
}

/// The refresh waits on an OAuth server that never answers and the caller gives up on it: the
/// dropped guard gives the lease back.
pub(super) async fn a_cancelled_refresh_releases_the_lease(
    backend: Backend,
) -> anyhow::Result<Cleanup> {
    let (env, cleanup) = Env::start(backend, false, quick()).await?;
    // Accepts connections (the kernel does) and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let silent_url = format!("http://{}", silent.local_addr()?);
    let stalled_pd = Pipedrive::new(
        PipedriveConfig::new(
            silent_url.parse()?,
            CLIENT_ID,
            SecretString::from(CLIENT_SECRET),
            CALLBACK.parse()?,
        ),
        Arc::new(InMemoryLedger::new(LedgerConfig::default())),
    )?;
    let stalled = TokenVault::with_config(
        env.stores[0].clone(),
        env.keys.clone(),
        stalled_pd.oauth().clone(),
        quick(),
    );
    let source = stalled.source(env.tenant.id, env.user);
    let (gave_up, free_meanwhile) = tokio::join!(
        tokio::time::timeout(Duration::from_millis(800), source.access_token()),
        async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            lease_is_free(&env).await
        }
    );
    anyhow::ensure!(
        gave_up.is_err(),
        "the stalled refresh finished: {gave_up:?}"
    );
    // The refresh really held the lease while it waited, so only the drop can have freed it.
    anyhow::ensure!(
        !free_meanwhile?,
        "the stalled refresh did not hold the lease"
    );
    anyhow::ensure!(
        lease_is_free_after_release(&env, Duration::from_secs(2)).await?,
        "the cancelled refresh kept the lease"
    );
    other_process_refreshes_promptly(&env).await?;
    drop(silent);
    Ok(cleanup)
}

/// Polls until the lease is free or `within` has passed (the drop's release runs as a task).
async fn lease_is_free_after_release(env: &Env, within: Duration) -> anyhow::Result<bool> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if lease_is_free(env).await? {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
