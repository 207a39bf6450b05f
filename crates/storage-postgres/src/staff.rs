use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_storage::{NewStaffAccount, StaffAccount, StaffAccounts, StoreError, StoreResult};
use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::{db_error, PgStore};

const COLUMNS: &str = "id, email, password_hash, created_at, last_login_at";

fn account_from_row(row: &PgRow) -> StoreResult<StaffAccount> {
    Ok(StaffAccount {
        id: row.try_get("id").map_err(StoreError::backend)?,
        email: row.try_get("email").map_err(StoreError::backend)?,
        password_hash: row.try_get("password_hash").map_err(StoreError::backend)?,
        created_at: row.try_get("created_at").map_err(StoreError::backend)?,
        last_login_at: row.try_get("last_login_at").map_err(StoreError::backend)?,
    })
}

#[async_trait]
impl StaffAccounts for PgStore {
    async fn create_staff_account(&self, new: &NewStaffAccount) -> StoreResult<StaffAccount> {
        let sql = format!(
            "insert into staff_accounts (email, password_hash, created_at) values ($1, $2, $3)
             returning {COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&new.email)
            .bind(&new.password_hash)
            .bind(Utc::now())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| db_error(e, "staff account"))?;
        account_from_row(&row)
    }

    async fn staff_account_by_email(&self, email: &str) -> StoreResult<Option<StaffAccount>> {
        let sql = format!("select {COLUMNS} from staff_accounts where email = $1");
        let row = sqlx::query(&sql)
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn staff_account_count(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("select count(*) from staff_accounts")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    async fn delete_staff_account(&self, email: &str) -> StoreResult<bool> {
        let done = sqlx::query("delete from staff_accounts where email = $1")
            .bind(email)
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn record_staff_login(&self, id: i64, at: DateTime<Utc>) -> StoreResult<()> {
        let done = sqlx::query("update staff_accounts set last_login_at = $1 where id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("staff account"));
        }
        Ok(())
    }
}
