//! `install.provision`: what a fresh install needs in the customer's Pipedrive before workflows
//! run: the custom deal fields order workflows write to, and the webhooks that tell us about
//! changes to deals, persons and organizations. It then queues the first webhook check, which
//! queues the first reconcile sweep once the webhooks are found active.

use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::fields::{FieldEntity, FieldPurpose, FieldSpec, ProvisionedField};
use dealbridge_core::{TenantId, UserId};
use dealbridge_jobs::{JobContext, JobError};
use dealbridge_pipedrive::models::{Field, ListQuery, NewField};
use dealbridge_pipedrive::CompanyClient;
use dealbridge_storage::{Lane as QueueLane, NewJob};
use serde::{Deserialize, Serialize};

use crate::errors::{job_error, store_error};
use crate::webhook_check::webhook_check_job;
use crate::Workflows;
use dealbridge_budget::ledger_lane;

pub const PROVISION_KIND: &str = "install.provision";

/// Field lists are short; a bound keeps a misbehaving server from paging us forever.
const MAX_FIELD_PAGES: usize = 50;

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ProvisionPayload {
    /// Whose installation's token does the work.
    pub user_id: UserId,
}

/// The job an install enqueues (in its own transaction) for the installing user. Unique per user,
/// so a second install while the first is pending adds nothing.
pub fn provision_job(user_id: UserId) -> NewJob {
    NewJob::new(
        PROVISION_KIND,
        serde_json::to_value(ProvisionPayload { user_id }).unwrap_or_default(),
    )
    .lane(QueueLane::Realtime)
    .unique_key(format!("{PROVISION_KIND}:{user_id}"))
}

impl Workflows {
    pub(crate) async fn provision(&self, ctx: JobContext) -> Result<(), JobError> {
        let tenant_id = ctx
            .tenant_id()
            .ok_or_else(|| JobError::permanent("install.provision needs a tenant"))?;
        let payload: ProvisionPayload = ctx.payload()?;
        let client = self
            .company_client(tenant_id, payload.user_id, ledger_lane(ctx.job.lane))
            .await?;
        let existing = deal_fields(&client).await?;
        let recorded = self
            .store
            .provisioned_fields(tenant_id)
            .await
            .map_err(store_error)?;
        let mut report = Vec::new();
        for purpose in FieldPurpose::ALL {
            let (field, how) = self
                .ensure_field(&client, tenant_id, purpose.spec(), &existing, &recorded)
                .await?;
            report.push(serde_json::json!({
                "purpose": purpose.as_str(),
                "field_code": field.field_code,
                "how": how,
            }));
        }
        let webhooks = self.register_webhooks(&client, tenant_id).await?;
        // The first check confirms the webhooks deliver and queues the first full sweep, after
        // which the workflows skip searches on mirror misses (see `coverage`).
        self.store
            .enqueue(&webhook_check_job(tenant_id))
            .await
            .map_err(store_error)?;
        self.store
            .append_audit(&NewAuditEntry {
                tenant_id: Some(tenant_id),
                actor: "system:provision".into(),
                action: "install.provisioned".into(),
                detail: serde_json::json!({
                    "fields": report,
                    "webhooks": { "kept": webhooks.kept, "created": webhooks.created },
                }),
            })
            .await
            .map_err(store_error)?;
        tracing::info!(tenant = %tenant_id, "install provisioned");
        Ok(())
    }

    /// Keeps, adopts or creates the field for one purpose, and records its code.
    async fn ensure_field(
        &self,
        client: &CompanyClient,
        tenant_id: TenantId,
        spec: FieldSpec,
        existing: &[Field],
        recorded: &[ProvisionedField],
    ) -> Result<(ProvisionedField, &'static str), JobError> {
        let known = recorded
            .iter()
            .find(|r| r.purpose == spec.purpose)
            .filter(|r| existing.iter().any(|f| f.field_code == r.field_code));
        if let Some(known) = known {
            // Recorded and still there: an admin may have renamed it, so we do not match names.
            return Ok((known.clone(), "kept"));
        }
        let same = existing.iter().find(|f| {
            f.is_custom_field && f.field_name == spec.name && f.field_type == spec.field_type
        });
        let (code, how) = match same {
            Some(field) => (field.field_code.clone(), "adopted"),
            None => {
                let created = client
                    .fields(pipedrive_entity(spec.entity))
                    .create(&NewField {
                        field_name: spec.name.into(),
                        field_type: spec.field_type.into(),
                        options: Vec::new(),
                        description: Some(spec.description.into()),
                    })
                    .await
                    .map_err(job_error)?;
                (created.field_code, "created")
            }
        };
        let field = self
            .store
            .record_field(tenant_id, spec.purpose, spec.entity, &code)
            .await
            .map_err(store_error)?;
        Ok((field, how))
    }
}

async fn deal_fields(client: &CompanyClient) -> Result<Vec<Field>, JobError> {
    let fields = client.fields(pipedrive_entity(FieldEntity::Deal));
    let mut all = Vec::new();
    let mut query = ListQuery::new().limit(500);
    for _ in 0..MAX_FIELD_PAGES {
        let page = fields.list(query).await.map_err(job_error)?;
        all.extend(page.items);
        match page.next_cursor {
            Some(cursor) => query = ListQuery::new().limit(500).cursor(cursor),
            None => return Ok(all),
        }
    }
    Err(JobError::permanent(format!(
        "more than {MAX_FIELD_PAGES} pages of deal fields"
    )))
}

fn pipedrive_entity(entity: FieldEntity) -> dealbridge_pipedrive::models::FieldEntity {
    match entity {
        FieldEntity::Deal => dealbridge_pipedrive::models::FieldEntity::Deal,
    }
}
