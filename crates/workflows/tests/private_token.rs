//! Private mode: the jobs act with the configured personal API token, and only for its company.

mod support;

use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::tenant::NewTenant;
use dealbridge_core::{CompanyId, UserId};
use dealbridge_jobs::JobError;
use dealbridge_pipedrive::{ApiToken, Lane};
use dealbridge_workflows::{provision_job, PrivateToken};
use secrecy::SecretString;
use support::Env;

fn started() -> NewAuditEntry {
    NewAuditEntry {
        tenant_id: None,
        actor: "test".into(),
        action: "private.start".into(),
        detail: serde_json::json!({}),
    }
}

#[tokio::test]
async fn jobs_act_with_the_api_token_for_its_company_only() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let token = env.sandbox.control().api_token(env.company, None)?;
    let company = CompanyId::new(i64::try_from(env.company)?);
    let workflows = env.workflows.clone().with_api_token(PrivateToken {
        token: ApiToken::new(SecretString::from(token)),
        company_id: company,
    });
    let ours = NewTenant {
        company_id: company,
        company_name: "Acme".into(),
        company_domain: "acme".into(),
    };
    let (tenant, _) = env
        .store
        .record_token_install(
            &ours,
            env.user,
            &env.api_domain,
            &[],
            &started(),
            &[provision_job(env.user)],
        )
        .await?;
    // No OAuth install exists: the call can only succeed with the API token in its header.
    let client = workflows
        .company_client(tenant.id, env.user, Lane::Interactive)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.chain()))?;
    let me = client.users().me().await?;
    anyhow::ensure!(
        me.company_id == env.company,
        "another company: {}",
        me.company_id
    );
    let calls = env.sandbox.control().calls(Some(env.company));
    anyhow::ensure!(
        calls
            .iter()
            .all(|c| c.status == 200 && c.token_id.is_some()),
        "a call without the token: {calls:?}"
    );

    // A tenant of another company (left from an earlier setup) gets no client: the token would
    // act on the wrong company's data.
    let other = NewTenant {
        company_id: CompanyId::new(4242),
        company_name: "Other".into(),
        company_domain: "other".into(),
    };
    let (stranger, _) = env
        .store
        .record_token_install(
            &other,
            UserId::new(7),
            &env.api_domain,
            &[],
            &started(),
            &[],
        )
        .await?;
    match workflows
        .company_client(stranger.id, UserId::new(7), Lane::Interactive)
        .await
    {
        Err(JobError::Permanent(cause)) => {
            anyhow::ensure!(cause.to_string().contains("private mode"), "{cause}")
        }
        Err(other) => anyhow::bail!("expected a permanent refusal, got {}", other.chain()),
        Ok(_) => anyhow::bail!("a client for another company"),
    }
    env.stop().await;
    Ok(())
}
