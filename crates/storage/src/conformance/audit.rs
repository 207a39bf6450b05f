use std::sync::Arc;

use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::TenantId;
use serde_json::json;

use super::{ensure_eq, fixtures, Check, CheckFuture};
use crate::Store;

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "audit::entries_are_listed_newest_first",
        entries_are_listed_newest_first,
    ),
    ("audit::scoped_by_tenant", scoped_by_tenant),
];

fn entry(tenant_id: Option<TenantId>, action: &str) -> NewAuditEntry {
    NewAuditEntry {
        tenant_id,
        actor: "user:42".into(),
        action: action.into(),
        detail: json!({ "action": action }),
    }
}

fn entries_are_listed_newest_first(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 1).await?;
        for action in ["install", "settings.save", "disconnect"] {
            store.append_audit(&entry(Some(tenant.id), action)).await?;
        }
        let log = store.audit_log(Some(tenant.id), 10).await?;
        let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
        ensure_eq!(
            actions,
            vec!["disconnect", "settings.save", "install"],
            "order"
        );
        ensure_eq!(
            log[0].detail,
            json!({"action": "disconnect"}),
            "detail kept"
        );
        ensure_eq!(log[0].actor, "user:42".to_string(), "actor kept");
        ensure_eq!(store.audit_log(Some(tenant.id), 2).await?.len(), 2, "limit");
        Ok(())
    })
}

fn scoped_by_tenant(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let a = fixtures::tenant(store.as_ref(), 2).await?;
        let b = fixtures::tenant(store.as_ref(), 3).await?;
        store.append_audit(&entry(Some(a.id), "a")).await?;
        store.append_audit(&entry(Some(b.id), "b")).await?;
        store
            .append_audit(&entry(None, "uninstall.bad_credentials"))
            .await?;
        let only_b = store.audit_log(Some(b.id), 10).await?;
        ensure_eq!(only_b.len(), 1, "B's entries");
        ensure_eq!(only_b[0].tenant_id, Some(b.id), "B's entry tenant");
        let unowned = store.audit_log(None, 10).await?;
        ensure_eq!(unowned.len(), 1, "entries without tenant");
        ensure_eq!(
            unowned[0].action,
            "uninstall.bad_credentials".to_string(),
            "unowned action"
        );
        Ok(())
    })
}
