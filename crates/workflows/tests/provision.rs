//! The workflow jobs against the sandbox, run by a real worker on a SQLite store.

mod support;

use chrono::Utc;
use dealbridge_core::fields::FieldPurpose;
use dealbridge_core::installation::InstallationStatus;
use dealbridge_jobs::{Registry, Worker};
use dealbridge_workflows::RetentionPolicy;
use support::Env;

#[tokio::test]
async fn an_install_provisions_its_deal_fields_once() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let tenant = env.install().await?;
    assert_eq!(env.work_off(&tenant).await?, 0, "provisioning died");

    let recorded = env.store.provisioned_fields(tenant.id).await?;
    let mut expected: Vec<_> = FieldPurpose::ALL.iter().map(|p| p.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(
        recorded
            .iter()
            .map(|f| f.purpose.as_str())
            .collect::<Vec<_>>(),
        expected,
        "every purpose recorded"
    );
    let in_pipedrive = env.deal_field_codes().await?;
    for field in &recorded {
        let name = field.purpose.spec().name;
        assert!(
            in_pipedrive
                .iter()
                .any(|(n, code)| n == name && *code == field.field_code),
            "{name} not in Pipedrive under {}: {in_pipedrive:?}",
            field.field_code
        );
    }
    assert_eq!(env.field_creations(), 3, "one creation per field");
    let log = env.store.audit_log(Some(tenant.id), 10).await?;
    assert!(
        log.iter().any(|e| e.action == "install.provisioned"),
        "no audit entry"
    );

    // A reinstall runs the job again: nothing new is created and the codes stay.
    env.install().await?;
    assert_eq!(env.work_off(&tenant).await?, 0);
    assert_eq!(env.field_creations(), 3, "a reinstall created fields again");
    assert_eq!(env.store.provisioned_fields(tenant.id).await?, recorded);
    Ok(())
}

#[tokio::test]
async fn a_tenant_that_lost_its_records_adopts_the_fields_it_made() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let tenant = env.install().await?;
    env.work_off(&tenant).await?;
    let first = env.store.provisioned_fields(tenant.id).await?;

    // Uninstalled and purged, then installed again: the fields are still in Pipedrive.
    env.store.retire_installation(tenant.id, env.user).await?;
    let purge = RetentionPolicy {
        keep_after_uninstall: chrono::Duration::zero(),
        ..RetentionPolicy::default()
    };
    assert_eq!(purge.purge(env.store.as_ref()).await.ok(), Some(1));
    let again = env.install().await?;
    assert_ne!(again.id, tenant.id, "a purged tenant comes back as new");
    env.work_off(&again).await?;

    assert_eq!(env.field_creations(), 3, "fields were created twice");
    let codes = |fields: &[dealbridge_core::fields::ProvisionedField]| {
        fields
            .iter()
            .map(|f| f.field_code.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        codes(&env.store.provisioned_fields(again.id).await?),
        codes(&first)
    );
    Ok(())
}

#[tokio::test]
async fn a_tenant_waiting_for_reconnect_is_not_provisioned_yet() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let tenant = env.install().await?;
    env.store
        .set_installation_status(tenant.id, env.user, InstallationStatus::NeedsReauth)
        .await?;
    let result = env
        .workflows
        .company_client(tenant.id, env.user, dealbridge_pipedrive::Lane::Interactive)
        .await;
    match result {
        Err(dealbridge_jobs::JobError::RetryAt(_, at)) => assert!(at > Utc::now()),
        Err(other) => anyhow::bail!("expected a timed wait, got {other}"),
        Ok(_) => anyhow::bail!("a client for an installation that needs reauth"),
    }

    // The provisioning job itself, run by a worker: it waits, and Pipedrive sees nothing.
    env.sandbox.control().clear_calls();
    let registry = env.workflows.register(Registry::new());
    let report = Worker::builder(env.store.clone(), registry)
        .build()
        .run_until_idle()
        .await?;
    assert_eq!(
        (report.completed, report.retried, report.dead),
        (0, 1, 0),
        "the job ran once and was put back: {report:?}"
    );
    let counts = env.store.job_counts(Some(tenant.id)).await?;
    assert_eq!(
        (counts.queued, counts.running, counts.dead),
        (1, 0, 0),
        "the job waits for the reconnect"
    );
    assert!(
        env.store.provisioned_fields(tenant.id).await?.is_empty(),
        "fields recorded"
    );
    assert_eq!(env.field_creations(), 0, "a field was created in Pipedrive");
    let calls = env.sandbox.control().calls(None);
    assert!(calls.is_empty(), "Pipedrive was called: {calls:?}");
    Ok(())
}

#[tokio::test]
async fn the_purge_keeps_tenants_inside_the_retention_period() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let tenant = env.install().await?;
    env.store.retire_installation(tenant.id, env.user).await?;

    let policy = RetentionPolicy::default();
    assert_eq!(policy.purge(env.store.as_ref()).await.ok(), Some(0));
    assert!(env.store.tenant(tenant.id).await?.is_some());

    let due = RetentionPolicy {
        keep_after_uninstall: chrono::Duration::zero(),
        batch: 1,
        ..policy
    };
    assert_eq!(due.purge(env.store.as_ref()).await.ok(), Some(1));
    assert!(env.store.tenant(tenant.id).await?.is_none());
    Ok(())
}
