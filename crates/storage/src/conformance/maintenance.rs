use std::sync::Arc;

use super::{ensure_eq, Check, CheckFuture};
use crate::Store;

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "maintenance::migrations_are_current_and_idempotent",
        migrations_are_current_and_idempotent,
    ),
    ("maintenance::ping_answers", ping_answers),
];

fn migrations_are_current_and_idempotent(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        ensure_eq!(
            store.pending_migrations().await?,
            Vec::<i64>::new(),
            "fresh store"
        );
        store.migrate().await?;
        store.migrate().await?;
        ensure_eq!(
            store.pending_migrations().await?,
            Vec::<i64>::new(),
            "after re-running"
        );
        Ok(())
    })
}

fn ping_answers(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        store.ping().await?;
        anyhow::ensure!(
            ["postgres", "sqlite"].contains(&store.backend_name()),
            "unexpected backend name {}",
            store.backend_name()
        );
        Ok(())
    })
}
