//! Constraint violations surface as the error the caller can act on, named by the constraint the
//! migrations declare (SQLite reports only the columns, Postgres the name: both must agree).

use std::sync::Arc;

use dealbridge_core::fields::{FieldEntity, FieldPurpose};
use dealbridge_core::TenantId;

use super::{ensure_eq, fixtures, Check, CheckFuture};
use crate::{NewStaffAccount, Store, StoreError};

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "constraints::taken_staff_email_is_staff_email_taken",
        taken_staff_email_is_staff_email_taken,
    ),
    (
        "constraints::missing_tenant_is_not_found",
        missing_tenant_is_not_found,
    ),
];

fn taken_staff_email_is_staff_email_taken(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let account = |hash: &str| NewStaffAccount {
            email: "ada@dealbridge.test".into(),
            password_hash: hash.into(),
            role: crate::StaffRole::Operator,
        };
        let first = store
            .create_staff_account(&account("$argon2id$first"))
            .await?;
        match store
            .create_staff_account(&account("$argon2id$second"))
            .await
        {
            Err(StoreError::StaffEmailTaken) => {}
            other => anyhow::bail!("taken email: expected StaffEmailTaken, got {other:?}"),
        }
        // The refused write changed nothing.
        let stored = store.staff_account_by_email("ada@dealbridge.test").await?;
        ensure_eq!(stored, Some(first), "the first account is untouched");
        Ok(())
    })
}

fn missing_tenant_is_not_found(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        fixtures::tenant(store.as_ref(), 7).await?;
        let nobody = TenantId::new();
        // Foreign keys to `tenants`: the parent row is missing, whatever the database says.
        match store
            .record_field(nobody, FieldPurpose::DealOrderId, FieldEntity::Deal, "abc")
            .await
        {
            Err(StoreError::NotFound("tenant")) => {}
            other => anyhow::bail!("field of a missing tenant: expected NotFound, got {other:?}"),
        }
        match store
            .save_settings(nobody, None, &serde_json::json!({}), None)
            .await
        {
            Err(StoreError::NotFound("tenant")) => {}
            other => {
                anyhow::bail!("settings of a missing tenant: expected NotFound, got {other:?}")
            }
        }
        Ok(())
    })
}
