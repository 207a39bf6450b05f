//! Staff accounts of the support console: create, unique emails, lookups, roles, sign-in times.

use std::sync::Arc;

use chrono::{TimeDelta, Utc};

use super::{ensure_eq, Check, CheckFuture};
use crate::{NewStaffAccount, StaffRole, Store, StoreError};

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "staff::create_then_find_by_email",
        create_then_find_by_email,
    ),
    ("staff::emails_are_unique", emails_are_unique),
    ("staff::login_time_is_recorded", login_time_is_recorded),
    (
        "staff::roles_are_kept_and_changed",
        roles_are_kept_and_changed,
    ),
    (
        "staff::removed_accounts_are_gone",
        removed_accounts_are_gone,
    ),
    (
        "staff::two_step_codes_are_accepted_once_per_step",
        two_step_codes_are_accepted_once_per_step,
    ),
];

fn account(email: &str) -> NewStaffAccount {
    NewStaffAccount {
        email: email.into(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$hash-of-{email}"),
        role: StaffRole::Operator,
    }
}

fn create_then_find_by_email(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        ensure_eq!(store.staff_account_count().await?, 0, "fresh store");
        let created = store
            .create_staff_account(&account("ada@dealbridge.test"))
            .await?;
        ensure_eq!(created.email, "ada@dealbridge.test".to_string(), "email");
        ensure_eq!(created.last_login_at, None, "never signed in");
        store
            .create_staff_account(&account("bob@dealbridge.test"))
            .await?;
        ensure_eq!(store.staff_account_count().await?, 2, "count");

        let found = store
            .staff_account_by_email("ada@dealbridge.test")
            .await?
            .ok_or_else(|| anyhow::anyhow!("not found"))?;
        ensure_eq!(found, created, "read back");
        ensure_eq!(
            found.password_hash,
            account("ada@dealbridge.test").password_hash,
            "hash stored as given"
        );
        anyhow::ensure!(
            store
                .staff_account_by_email("carol@dealbridge.test")
                .await?
                .is_none(),
            "unknown email found"
        );
        anyhow::ensure!(
            !format!("{found:?}").contains("hash-of"),
            "Debug shows the password hash"
        );
        Ok(())
    })
}

fn emails_are_unique(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        store
            .create_staff_account(&account("ada@dealbridge.test"))
            .await?;
        match store
            .create_staff_account(&account("ada@dealbridge.test"))
            .await
        {
            // The unique violation surfaces as its own error, on SQLite (which names no
            // constraint) as on Postgres, so the console can say the email is taken.
            Err(StoreError::StaffEmailTaken) => {}
            other => anyhow::bail!("duplicate email: expected StaffEmailTaken, got {other:?}"),
        }
        ensure_eq!(store.staff_account_count().await?, 1, "one account");
        Ok(())
    })
}

fn login_time_is_recorded(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let created = store
            .create_staff_account(&account("ada@dealbridge.test"))
            .await?;
        let at = Utc::now() + TimeDelta::seconds(5);
        store.record_staff_login(created.id, at).await?;
        let found = store
            .staff_account_by_email("ada@dealbridge.test")
            .await?
            .ok_or_else(|| anyhow::anyhow!("gone"))?;
        let recorded = found
            .last_login_at
            .ok_or_else(|| anyhow::anyhow!("login time not recorded"))?;
        anyhow::ensure!(
            (recorded - at).num_milliseconds().abs() < 1,
            "login time {recorded} differs from {at}"
        );
        match store.record_staff_login(created.id + 1000, at).await {
            Err(StoreError::NotFound(_)) => Ok(()),
            other => anyhow::bail!("unknown account: expected NotFound, got {other:?}"),
        }
    })
}

fn removed_accounts_are_gone(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        store
            .create_staff_account(&account("ada@dealbridge.test"))
            .await?;
        store
            .create_staff_account(&account("bob@dealbridge.test"))
            .await?;
        ensure_eq!(
            store.delete_staff_account("ada@dealbridge.test").await?,
            true,
            "removed"
        );
        ensure_eq!(
            store
                .staff_account_by_email("ada@dealbridge.test")
                .await?
                .map(|a| a.email),
            None,
            "gone"
        );
        ensure_eq!(
            store.delete_staff_account("ada@dealbridge.test").await?,
            false,
            "a second removal finds nothing"
        );
        ensure_eq!(store.staff_account_count().await?, 1, "the other stays");
        Ok(())
    })
}

fn roles_are_kept_and_changed(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let viewer = store
            .create_staff_account(&NewStaffAccount {
                role: StaffRole::Viewer,
                ..account("ada@dealbridge.test")
            })
            .await?;
        ensure_eq!(viewer.role, StaffRole::Viewer, "created as a viewer");
        store
            .create_staff_account(&account("bob@dealbridge.test"))
            .await?;
        let role_of = |email: &'static str| {
            let store = store.clone();
            async move {
                store
                    .staff_account_by_email(email)
                    .await?
                    .map(|a| a.role)
                    .ok_or_else(|| anyhow::anyhow!("{email} gone"))
            }
        };
        ensure_eq!(
            role_of("ada@dealbridge.test").await?,
            StaffRole::Viewer,
            "read back"
        );

        ensure_eq!(
            store
                .set_staff_role("ada@dealbridge.test", StaffRole::Operator)
                .await?,
            true,
            "changed"
        );
        ensure_eq!(
            role_of("ada@dealbridge.test").await?,
            StaffRole::Operator,
            "promoted"
        );
        store
            .set_staff_role("bob@dealbridge.test", StaffRole::Viewer)
            .await?;
        ensure_eq!(
            role_of("bob@dealbridge.test").await?,
            StaffRole::Viewer,
            "demoted"
        );
        ensure_eq!(
            role_of("ada@dealbridge.test").await?,
            StaffRole::Operator,
            "the other account is untouched"
        );
        ensure_eq!(
            store
                .set_staff_role("carol@dealbridge.test", StaffRole::Viewer)
                .await?,
            false,
            "no such account"
        );
        Ok(())
    })
}

fn two_step_codes_are_accepted_once_per_step(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let id = store
            .create_staff_account(&account("grace@dealbridge.test"))
            .await?
            .id;
        ensure_eq!(
            store.accept_totp_step(id, 10).await?,
            false,
            "no code is accepted while two-step sign-in is off"
        );
        let email = "grace@dealbridge.test";
        ensure_eq!(
            store.set_staff_totp(email, Some("sealed")).await?,
            true,
            "on"
        );
        let found = store.staff_account_by_email(email).await?;
        let secret = found.and_then(|a| a.totp_secret);
        ensure_eq!(
            secret.as_deref(),
            Some("sealed"),
            "the sealed secret is kept"
        );
        // Two sign-ins with the same code at once: one is accepted.
        let (a, b) = tokio::join!(
            store.accept_totp_step(id, 10),
            store.accept_totp_step(id, 10)
        );
        ensure_eq!([a?, b?].iter().filter(|ok| **ok).count(), 1, "one of two");
        ensure_eq!(store.accept_totp_step(id, 9).await?, false, "an older step");
        ensure_eq!(store.accept_totp_step(id, 11).await?, true, "the next step");
        ensure_eq!(store.set_staff_totp(email, None).await?, true, "off");
        let found = store.staff_account_by_email(email).await?;
        ensure_eq!(found.and_then(|a| a.totp_secret), None, "cleared");
        ensure_eq!(
            store.set_staff_totp("nobody@dealbridge.test", None).await?,
            false,
            "unknown email"
        );
        Ok(())
    })
}
