use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_storage::{
    NewStaffAccount, StaffAccount, StaffAccounts, StaffRole, StoreError, StoreResult,
};

use crate::backend::Backend;
use crate::statement::count;
use crate::SqlStore;

const COLUMNS: &str = "id, email, password_hash, role, created_at, last_login_at, totp_secret";

fn account_from_row<B: Backend>(row: &B::Row) -> StoreResult<StaffAccount> {
    let role: String = B::get(row, "role")?;
    Ok(StaffAccount {
        role: role
            .parse()
            .map_err(|err: dealbridge_storage::UnknownStaffRole| {
                StoreError::Corrupt(err.to_string())
            })?,
        id: B::get(row, "id")?,
        email: B::get(row, "email")?,
        password_hash: B::get(row, "password_hash")?,
        created_at: B::get(row, "created_at")?,
        last_login_at: B::get(row, "last_login_at")?,
        totp_secret: B::get(row, "totp_secret")?,
    })
}

#[async_trait]
impl<B: Backend> StaffAccounts for SqlStore<B> {
    async fn create_staff_account(&self, new: &NewStaffAccount) -> StoreResult<StaffAccount> {
        // A taken email fails on `staff_accounts_email_key`: `StoreError::StaffEmailTaken`.
        let statement = format!(
            "insert into staff_accounts (email, password_hash, role, created_at)
             values ($1, $2, $3, $4)
             returning {COLUMNS}"
        );
        let values = (
            &new.email,
            &new.password_hash,
            new.role.as_str(),
            Utc::now(),
        );
        self.fetch_one(&statement, values, account_from_row::<B>)
            .await
    }

    async fn staff_account_by_email(&self, email: &str) -> StoreResult<Option<StaffAccount>> {
        let statement = format!("select {COLUMNS} from staff_accounts where email = $1");
        self.fetch_optional(&statement, (email,), account_from_row::<B>)
            .await
    }

    async fn staff_account_count(&self) -> StoreResult<u64> {
        let statement = "select count(*) as n from staff_accounts";
        self.fetch_one(statement, (), count::<B>).await
    }

    async fn delete_staff_account(&self, email: &str) -> StoreResult<bool> {
        let statement = "delete from staff_accounts where email = $1";
        Ok(self.execute(statement, (email,)).await? > 0)
    }

    async fn set_staff_role(&self, email: &str, role: StaffRole) -> StoreResult<bool> {
        let statement = "update staff_accounts set role = $1 where email = $2";
        Ok(self.execute(statement, (role.as_str(), email)).await? > 0)
    }

    async fn record_staff_login(&self, id: i64, at: DateTime<Utc>) -> StoreResult<()> {
        let statement = "update staff_accounts set last_login_at = $1 where id = $2";
        match self.execute(statement, (at, id)).await? {
            0 => Err(StoreError::NotFound("staff account")),
            _ => Ok(()),
        }
    }

    async fn set_staff_totp(&self, email: &str, sealed_secret: Option<&str>) -> StoreResult<bool> {
        let statement =
            "update staff_accounts set totp_secret = $1, totp_last_step = null where email = $2";
        Ok(self.execute(statement, (sealed_secret, email)).await? > 0)
    }

    async fn accept_totp_step(&self, id: i64, step: i64) -> StoreResult<bool> {
        // One conditional update: two sign-ins racing with the same code cannot both match.
        let statement = "update staff_accounts set totp_last_step = $1
            where id = $2 and totp_secret is not null
                and (totp_last_step is null or totp_last_step < $1)";
        Ok(self.execute(statement, (step, id)).await? > 0)
    }
}
