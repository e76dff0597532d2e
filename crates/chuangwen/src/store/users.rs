//! Accounts, roles and sessions (PRODUCT.md M1; fleshed out by the access issue).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, StoreResult, now};
use crate::{read, transaction};

/// A user account. The password hash never leaves the store except to the
/// password check.
#[derive(Clone, Serialize, sqlx::FromRow)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// District.
    pub district_id: i64,
    /// The unit the user belongs to.
    pub unit_id: i64,
    /// Login name.
    pub username: String,
    /// Name shown to people.
    pub display_name: String,
    /// Argon2id PHC string.
    #[serde(skip)]
    pub password_hash: String,
    /// Must choose a new password at next login.
    pub must_change_password: bool,
    /// Cannot log in.
    pub disabled: bool,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User").field("id", &self.id).field("username", &self.username).finish_non_exhaustive()
    }
}

/// A user to create.
#[derive(Clone)]
pub struct NewUser {
    /// Unit.
    pub unit_id: i64,
    /// Login name.
    pub username: String,
    /// Name shown to people.
    pub display_name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Role codes.
    pub roles: Vec<String>,
    /// Must choose a new password at next login.
    pub must_change_password: bool,
}

impl Store {
    /// Creates users with their roles in one transaction; returns their ids.
    pub async fn create_users(&self, district_id: i64, users: &[NewUser]) -> StoreResult<Vec<i64>> {
        let at = now();
        let ids = transaction!(&self.db, |tx| {
            let mut ids = Vec::with_capacity(users.len());
            for user in users {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO users (district_id, unit_id, username, display_name, password_hash,
                     must_change_password, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(district_id)
                .bind(user.unit_id)
                .bind(&user.username)
                .bind(&user.display_name)
                .bind(&user.password_hash)
                .bind(user.must_change_password)
                .bind(at)
                .fetch_one(&mut *tx)
                .await?;
                for role in &user.roles {
                    sqlx::query("INSERT INTO user_roles (user_id, district_id, role) VALUES ($1, $2, $3)")
                        .bind(id)
                        .bind(district_id)
                        .bind(role)
                        .execute(&mut *tx)
                        .await?;
                }
                ids.push(id);
            }
            ids
        });
        Ok(ids)
    }

    /// The user with this login name.
    pub async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        Ok(read!(&self.db, |pool| {
            sqlx::query_as::<_, User>(
                "SELECT id, district_id, unit_id, username, display_name, password_hash, must_change_password, disabled
             FROM users WHERE username = $1",
            )
            .bind(username)
            .fetch_optional(pool)
            .await
        })?)
    }

    /// The role codes a user holds.
    pub async fn roles_of(&self, user_id: i64) -> StoreResult<Vec<String>> {
        Ok(read!(&self.db, |pool| sqlx::query_scalar::<_, String>(
            "SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role"
        )
        .bind(user_id)
        .fetch_all(pool)
        .await)?)
    }

    /// Counts of users by role in a district.
    pub async fn role_counts(&self, district_id: i64) -> StoreResult<Vec<(String, i64)>> {
        Ok(read!(&self.db, |pool| {
            sqlx::query_as::<_, (String, i64)>(
                "SELECT role, COUNT(*) FROM user_roles WHERE district_id = $1 GROUP BY role ORDER BY role",
            )
            .bind(district_id)
            .fetch_all(pool)
            .await
        })?)
    }

    /// Records a new session (only the token's hash is stored).
    pub async fn create_session(&self, token_hash: &str, user_id: i64) -> StoreResult<()> {
        let at = now();
        transaction!(&self.db, |tx| {
            sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, last_seen) VALUES ($1, $2, $3, $3)")
                .bind(token_hash)
                .bind(user_id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// The user behind a session and when the session began and was last used.
    pub async fn session_user(&self, token_hash: &str) -> StoreResult<Option<(User, DateTime<Utc>, DateTime<Utc>)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: User,
            created_at: DateTime<Utc>,
            last_seen: DateTime<Utc>,
        }
        let row = read!(&self.db, |pool| {
            sqlx::query_as::<_, Row>(
                "SELECT u.id, u.district_id, u.unit_id, u.username, u.display_name, u.password_hash,
                    u.must_change_password, u.disabled, s.created_at, s.last_seen
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(|r| (r.user, r.created_at, r.last_seen)))
    }

    /// Marks a session as used now.
    pub async fn touch_session(&self, token_hash: &str) -> StoreResult<()> {
        let at = now();
        transaction!(&self.db, |tx| {
            sqlx::query("UPDATE sessions SET last_seen = $1 WHERE token_hash = $2")
                .bind(at)
                .bind(token_hash)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// Ends a session.
    pub async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        transaction!(&self.db, |tx| {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(&mut *tx).await?;
        });
        Ok(())
    }
}
