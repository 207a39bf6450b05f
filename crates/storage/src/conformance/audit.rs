use std::sync::Arc;

use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::TenantId;
use serde_json::json;

use super::{ensure_eq, fixtures, Check, CheckFuture};
use crate::{AuditQuery, Store};

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "audit::entries_are_listed_newest_first",
        entries_are_listed_newest_first,
    ),
    ("audit::scoped_by_tenant", scoped_by_tenant),
    (
        "audit::search_filters_and_pages_by_id",
        search_filters_and_pages_by_id,
    ),
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

fn search_filters_and_pages_by_id(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let one = fixtures::tenant(store.as_ref(), 1).await?;
        let two = fixtures::tenant(store.as_ref(), 2).await?;
        let start = chrono::Utc::now() - chrono::Duration::seconds(1);
        let write = |tenant, actor: &str, action: &str| NewAuditEntry {
            tenant_id: tenant,
            actor: actor.into(),
            action: action.into(),
            detail: json!({}),
        };
        for e in [
            write(Some(one.id), "staff:ana@x.test", "tenant.paused"),
            write(Some(two.id), "staff:ana@x.test", "job.retry"),
            write(None, "cli:ops", "staff.added"),
            write(Some(one.id), "staff:bo@x.test", "tenant.resumed"),
            write(Some(one.id), "user:7", "settings.save"),
        ] {
            store.append_audit(&e).await?;
        }
        let search = |query: AuditQuery| {
            let store = store.clone();
            async move {
                let found = store
                    .search_audit(&AuditQuery {
                        limit: if query.limit == 0 { 50 } else { query.limit },
                        ..query
                    })
                    .await?;
                anyhow::Ok(found.into_iter().map(|e| e.action).collect::<Vec<_>>())
            }
        };
        ensure_eq!(
            search(AuditQuery::default()).await?,
            vec![
                "settings.save",
                "tenant.resumed",
                "staff.added",
                "job.retry",
                "tenant.paused"
            ],
            "all, newest first, every tenant and none"
        );
        ensure_eq!(
            search(AuditQuery {
                tenant_id: Some(one.id),
                ..AuditQuery::default()
            })
            .await?,
            vec!["settings.save", "tenant.resumed", "tenant.paused"],
            "one tenant"
        );
        ensure_eq!(
            search(AuditQuery {
                actor: Some("staff:ana@x.test".into()),
                ..AuditQuery::default()
            })
            .await?,
            vec!["job.retry", "tenant.paused"],
            "one actor"
        );
        ensure_eq!(
            search(AuditQuery {
                action_prefix: Some("Tenant.".into()),
                ..AuditQuery::default()
            })
            .await?,
            vec!["tenant.resumed", "tenant.paused"],
            "an action prefix, any case"
        );
        ensure_eq!(
            search(AuditQuery {
                action_prefix: Some("tenant%".into()),
                ..AuditQuery::default()
            })
            .await?,
            Vec::<String>::new(),
            "wildcards match literally"
        );
        ensure_eq!(
            search(AuditQuery {
                until: Some(start),
                ..AuditQuery::default()
            })
            .await?,
            Vec::<String>::new(),
            "nothing before the start"
        );
        ensure_eq!(
            search(AuditQuery {
                from: Some(start),
                until: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
                tenant_id: Some(two.id),
                ..AuditQuery::default()
            })
            .await?,
            vec!["job.retry"],
            "a date range and a tenant"
        );
        let first = store
            .search_audit(&AuditQuery {
                limit: 2,
                ..AuditQuery::default()
            })
            .await?;
        let last_id = first.last().map(|e| e.id);
        ensure_eq!(
            search(AuditQuery {
                before: last_id,
                limit: 2,
                ..AuditQuery::default()
            })
            .await?,
            vec!["staff.added", "job.retry"],
            "the next page starts after the cursor"
        );
        Ok(())
    })
}
