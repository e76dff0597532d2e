//! Accounts, roles, sessions and API tokens (PRODUCT.md M1). Every change to
//! an account is written with its audit entry in the same transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, StoreError, StoreResult, now};
use crate::append_audit;
use crate::auth::audit::{AuditAction, NewAuditEntry};
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
    /// Phone number, encrypted (see `auth::crypto`).
    #[serde(skip)]
    pub phone_enc: Option<String>,
    /// Failed logins since the last success.
    pub failed_logins: i64,
    /// Locked until this time after too many failures.
    pub locked_until: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User").field("id", &self.id).field("username", &self.username).finish_non_exhaustive()
    }
}

/// A user as the admin list shows it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct UserRow {
    /// Row id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Name.
    pub display_name: String,
    /// Unit id.
    pub unit_id: i64,
    /// Unit name.
    pub unit_name: String,
    /// Role codes, comma-separated.
    pub roles: Option<String>,
    /// Disabled.
    pub disabled: bool,
    /// Must change password.
    pub must_change_password: bool,
    /// Locked until.
    pub locked_until: Option<DateTime<Utc>>,
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
    /// Encrypted phone and its search index.
    pub phone: Option<(String, String)>,
}

/// Filters of the user list.
#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    /// Username or name contains this.
    pub text: Option<String>,
    /// Holds this role.
    pub role: Option<String>,
    /// Belongs to this unit.
    pub unit_id: Option<i64>,
    /// Phone index (exact match on the keyed hash).
    pub phone_index: Option<String>,
    /// Keyset cursor: users with a larger id.
    pub after_id: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// An API token as listed.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct ApiToken {
    /// Row id.
    pub id: i64,
    /// District.
    pub district_id: i64,
    /// What the client is.
    pub name: String,
    /// Unit whose scope the token has.
    pub unit_id: i64,
    /// Role codes, comma-separated.
    pub roles: String,
    /// First characters of the token.
    pub prefix: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last used.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Inserts a user and its roles inside an open transaction `$tx`; yields the id.
macro_rules! insert_user {
    ($tx:ident, $district_id:expr, $user:expr, $at:expr) => {{
        let user: &NewUser = $user;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (district_id, unit_id, username, display_name, password_hash,
             must_change_password, phone_enc, phone_index, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind($district_id)
        .bind(user.unit_id)
        .bind(&user.username)
        .bind(&user.display_name)
        .bind(&user.password_hash)
        .bind(user.must_change_password)
        .bind(user.phone.as_ref().map(|p| p.0.clone()))
        .bind(user.phone.as_ref().map(|p| p.1.clone()))
        .bind($at)
        .fetch_one(&mut *$tx)
        .await?;
        for role in &user.roles {
            sqlx::query("INSERT INTO user_roles (user_id, district_id, role) VALUES ($1, $2, $3)")
                .bind(id)
                .bind($district_id)
                .bind(role)
                .execute(&mut *$tx)
                .await?;
        }
        id
    }};
}

/// What a failed login led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailedLogin {
    /// Counted; the account is still open.
    Counted(i64),
    /// This failure locked the account until the given time.
    Locked(DateTime<Utc>),
}

/// A session's user as every request reads it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SessionUser {
    /// The account.
    #[sqlx(flatten)]
    pub user: User,
    /// When the session began.
    pub created_at: DateTime<Utc>,
    /// When it was last used.
    pub last_seen: DateTime<Utc>,
    /// The path of the user's unit (their data scope).
    pub unit_path: String,
    /// Role codes, comma-separated.
    pub roles: String,
    /// The district's current category table and map.
    #[sqlx(flatten)]
    pub tables: super::settings::DistrictTables,
}

impl Store {
    /// Creates users with their roles in one transaction (the demo's bulk
    /// path); returns their ids.
    pub async fn create_users(&self, district_id: i64, users: &[NewUser]) -> StoreResult<Vec<i64>> {
        let at = now();
        let ids = transaction!(&self.db, |tx| {
            let mut ids = Vec::with_capacity(users.len());
            for user in users {
                let id = insert_user!(tx, district_id, user, at);
                ids.push(id);
            }
            ids
        });
        Ok(ids)
    }

    /// Creates one user as an admin did, with its audit entry.
    pub async fn create_user_audited(
        &self,
        district_id: i64,
        user: &NewUser,
        audit: &NewAuditEntry,
    ) -> StoreResult<i64> {
        let algorithm = self.audit_hash;
        let at = now();
        let id = transaction!(&self.db, |tx| {
            let id = insert_user!(tx, district_id, user, at);
            let entry = NewAuditEntry { object: format!("user:{id}"), ..audit.clone() };
            append_audit!(tx, algorithm, &entry);
            id
        });
        Ok(id)
    }

    /// The user with this login name.
    pub async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, User>(
            "SELECT id, district_id, unit_id, username, display_name, password_hash, must_change_password, disabled,
                    phone_enc, failed_logins, locked_until
             FROM users WHERE username = $1"
        )
        .bind(username)
        .fetch_optional(pool)
        .await)?)
    }

    /// The user with this id in a district.
    pub async fn user(&self, district_id: i64, id: i64) -> StoreResult<Option<User>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, User>(
            "SELECT id, district_id, unit_id, username, display_name, password_hash, must_change_password, disabled,
                    phone_enc, failed_logins, locked_until
             FROM users WHERE district_id = $1 AND id = $2"
        )
        .bind(district_id)
        .bind(id)
        .fetch_optional(pool)
        .await)?)
    }

    /// One page of a district's users.
    pub async fn users_page(&self, district_id: i64, filter: &UserFilter) -> StoreResult<Vec<UserRow>> {
        Ok(read!(&self.db, |pool| {
            let mut q = sqlx::QueryBuilder::new(
                "SELECT u.id, u.username, u.display_name, u.unit_id, n.name AS unit_name,
                        (SELECT STRING_AGG(r.role, ',') FROM user_roles r WHERE r.user_id = u.id) AS roles,
                        u.disabled, u.must_change_password, u.locked_until
                 FROM users u JOIN units n ON n.id = u.unit_id WHERE u.district_id = ",
            );
            q.push_bind(district_id);
            if let Some(text) = &filter.text {
                let pattern = super::contains_pattern(text);
                q.push(" AND (LOWER(u.username) LIKE ").push_bind(pattern.clone());
                q.push(" ESCAPE '\\' OR LOWER(u.display_name) LIKE ").push_bind(pattern).push(" ESCAPE '\\')");
            }
            if let Some(role) = &filter.role {
                q.push(" AND EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role = ");
                q.push_bind(role.clone()).push(")");
            }
            if let Some(unit) = filter.unit_id {
                q.push(" AND u.unit_id = ").push_bind(unit);
            }
            if let Some(index) = &filter.phone_index {
                q.push(" AND u.phone_index = ").push_bind(index.clone());
            }
            if let Some(after) = filter.after_id {
                q.push(" AND u.id > ").push_bind(after);
            }
            q.push(" ORDER BY u.id LIMIT ").push_bind(filter.limit.max(1));
            q.build_query_as::<UserRow>().fetch_all(pool).await
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
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, (String, i64)>(
            "SELECT role, COUNT(*) FROM user_roles WHERE district_id = $1 GROUP BY role ORDER BY role"
        )
        .bind(district_id)
        .fetch_all(pool)
        .await)?)
    }

    /// A successful login: failures reset, a session begins, the trail records it.
    pub async fn record_login(&self, user: &User, token_hash: &str, ip: &str) -> StoreResult<()> {
        let (algorithm, at) = (self.audit_hash, now());
        let entry = NewAuditEntry {
            district_id: Some(user.district_id),
            actor_id: Some(user.id),
            actor: user.username.clone(),
            action: AuditAction::Login,
            object: format!("user:{}", user.id),
            detail: String::new(),
            ip: ip.to_string(),
        };
        transaction!(&self.db, |tx| {
            sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
                .bind(user.id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, last_seen) VALUES ($1, $2, $3, $3)")
                .bind(token_hash)
                .bind(user.id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            append_audit!(tx, algorithm, &entry);
        });
        Ok(())
    }

    /// A failed login: counted, and at `threshold` failures the account is
    /// locked for `lock_for`. Unknown usernames are recorded too.
    pub async fn record_failed_login(
        &self,
        user: Option<&User>,
        username: &str,
        ip: &str,
        threshold: i64,
        lock_for: chrono::Duration,
    ) -> StoreResult<Option<FailedLogin>> {
        let (algorithm, at) = (self.audit_hash, now());
        let mut entry = NewAuditEntry {
            district_id: user.map(|u| u.district_id),
            actor_id: user.map(|u| u.id),
            actor: username.chars().take(64).collect(),
            action: AuditAction::LoginFailed,
            object: user.map(|u| format!("user:{}", u.id)).unwrap_or_default(),
            detail: String::new(),
            ip: ip.to_string(),
        };
        let outcome = transaction!(&self.db, |tx| {
            if let Some(user) = user {
                let failures: i64 = sqlx::query_scalar(
                    "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING failed_logins",
                )
                .bind(user.id)
                .fetch_one(&mut *tx)
                .await?;
                entry.detail = serde_json::json!({ "failures": failures }).to_string();
                append_audit!(tx, algorithm, &entry);
                if failures >= threshold {
                    let until = at + lock_for;
                    sqlx::query("UPDATE users SET locked_until = $1, failed_logins = 0 WHERE id = $2")
                        .bind(until)
                        .bind(user.id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user.id).execute(&mut *tx).await?;
                    let lock = NewAuditEntry {
                        action: AuditAction::Lockout,
                        detail: serde_json::json!({ "until": until.to_rfc3339(), "failures": failures }).to_string(),
                        ..entry.clone()
                    };
                    append_audit!(tx, algorithm, &lock);
                    Some(FailedLogin::Locked(until))
                } else {
                    Some(FailedLogin::Counted(failures))
                }
            } else {
                // Unknown usernames are recorded too: guessing shows in the trail.
                entry.detail = r#"{"reason":"unknown_user"}"#.into();
                append_audit!(tx, algorithm, &entry);
                None
            }
        });
        Ok(outcome)
    }

    /// The user changed their own password: every other session ends.
    pub async fn change_own_password(
        &self,
        user: &User,
        new_hash: &str,
        keep_session: &str,
        ip: &str,
    ) -> StoreResult<()> {
        let (algorithm, at) = (self.audit_hash, now());
        let entry = NewAuditEntry {
            district_id: Some(user.district_id),
            actor_id: Some(user.id),
            actor: user.username.clone(),
            action: AuditAction::PasswordChanged,
            object: format!("user:{}", user.id),
            detail: String::new(),
            ip: ip.to_string(),
        };
        transaction!(&self.db, |tx| {
            sqlx::query(
                "UPDATE users SET password_hash = $1, must_change_password = FALSE, password_changed_at = $2 WHERE id = $3",
            )
            .bind(new_hash)
            .bind(at)
            .bind(user.id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
                .bind(user.id)
                .bind(keep_session)
                .execute(&mut *tx)
                .await?;
            append_audit!(tx, algorithm, &entry);
        });
        Ok(())
    }

    /// An admin set a new password: the user must change it at next login,
    /// and every session of the user ends.
    pub async fn reset_password(&self, user_id: i64, new_hash: &str, audit: &NewAuditEntry) -> StoreResult<()> {
        let algorithm = self.audit_hash;
        transaction!(&self.db, |tx| {
            sqlx::query(
                "UPDATE users SET password_hash = $1, must_change_password = TRUE, failed_logins = 0, locked_until = NULL
                 WHERE id = $2",
            )
            .bind(new_hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            append_audit!(tx, algorithm, audit);
        });
        Ok(())
    }

    /// Disables or enables an account; disabling ends its sessions.
    pub async fn set_disabled(&self, user_id: i64, disabled: bool, audit: &NewAuditEntry) -> StoreResult<()> {
        let algorithm = self.audit_hash;
        transaction!(&self.db, |tx| {
            sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
                .bind(disabled)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            if disabled {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            }
            append_audit!(tx, algorithm, audit);
        });
        Ok(())
    }

    /// Sets a user's unit and roles (their data scope); sessions end so the
    /// new scope applies at once.
    pub async fn set_unit_and_roles(
        &self,
        district_id: i64,
        user_id: i64,
        unit_id: i64,
        roles: &[String],
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let algorithm = self.audit_hash;
        transaction!(&self.db, |tx| {
            sqlx::query("UPDATE users SET unit_id = $1 WHERE id = $2 AND district_id = $3")
                .bind(unit_id)
                .bind(user_id)
                .bind(district_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM user_roles WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            for role in roles {
                sqlx::query("INSERT INTO user_roles (user_id, district_id, role) VALUES ($1, $2, $3)")
                    .bind(user_id)
                    .bind(district_id)
                    .bind(role)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            append_audit!(tx, algorithm, audit);
        });
        Ok(())
    }

    /// Records an audit entry for reading personal data, and returns the
    /// encrypted value to decrypt (the entry exists before anyone sees it).
    pub async fn reveal_phone(
        &self,
        district_id: i64,
        user_id: i64,
        audit: &NewAuditEntry,
    ) -> StoreResult<Option<String>> {
        let algorithm = self.audit_hash;
        let phone = transaction!(&self.db, |tx| {
            let phone: Option<Option<String>> =
                sqlx::query_scalar("SELECT phone_enc FROM users WHERE district_id = $1 AND id = $2")
                    .bind(district_id)
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let phone = phone.ok_or(StoreError::NotFound)?;
            append_audit!(tx, algorithm, audit);
            phone
        });
        Ok(phone)
    }

    /// Re-encrypts phone numbers: `f` returns the new value for an old one
    /// (or `None` to leave it). Returns how many changed.
    pub async fn reencrypt_phones(&self, f: impl Fn(&str) -> Option<String>) -> StoreResult<u64> {
        let rows: Vec<(i64, String)> = read!(&self.db, |pool| sqlx::query_as(
            "SELECT id, phone_enc FROM users WHERE phone_enc IS NOT NULL ORDER BY id"
        )
        .fetch_all(pool)
        .await)?;
        let changed: Vec<(i64, String)> =
            rows.into_iter().filter_map(|(id, old)| f(&old).map(|new| (id, new))).collect();
        transaction!(&self.db, |tx| {
            for (id, new) in &changed {
                sqlx::query("UPDATE users SET phone_enc = $1 WHERE id = $2")
                    .bind(new)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        });
        Ok(changed.len() as u64)
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

    /// The user of a session, with what every request needs to know of them
    /// (their unit's path and their roles) and of their district (its current
    /// category table and map), in one query.
    pub async fn session_user(&self, token_hash: &str) -> StoreResult<Option<SessionUser>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, SessionUser>(sqlx::AssertSqlSafe(format!(
            "SELECT u.id, u.district_id, u.unit_id, u.username, u.display_name, u.password_hash,
                    u.must_change_password, u.disabled, u.phone_enc, u.failed_logins, u.locked_until,
                    s.created_at, s.last_seen, n.path AS unit_path,
                    COALESCE((SELECT STRING_AGG(r.role, ',') FROM user_roles r WHERE r.user_id = u.id), '') AS roles,
                    {}
             FROM sessions s JOIN users u ON u.id = s.user_id JOIN units n ON n.id = u.unit_id
                  JOIN districts d ON d.id = u.district_id
             WHERE s.token_hash = $1",
            super::settings::DISTRICT_TABLES
        )))
        .bind(token_hash)
        .fetch_optional(pool)
        .await)?)
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

    /// Ends a session as the user asked, with its audit entry.
    pub async fn logout(&self, token_hash: &str, audit: &NewAuditEntry) -> StoreResult<()> {
        let algorithm = self.audit_hash;
        transaction!(&self.db, |tx| {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(&mut *tx).await?;
            append_audit!(tx, algorithm, audit);
        });
        Ok(())
    }

    /// Ends every session of a user ("log out everywhere"); returns how many.
    pub async fn logout_everywhere(&self, user_id: i64, audit: &NewAuditEntry) -> StoreResult<u64> {
        let algorithm = self.audit_hash;
        let n = transaction!(&self.db, |tx| {
            let n = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            append_audit!(tx, algorithm, audit);
            n
        });
        Ok(n)
    }

    /// How many sessions a user has open.
    pub async fn session_count(&self, user_id: i64) -> StoreResult<i64> {
        Ok(read!(&self.db, |pool| sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(pool)
            .await)?)
    }

    /// Creates an API token (only its hash is kept).
    #[allow(clippy::too_many_arguments)]
    pub async fn create_api_token(
        &self,
        district_id: i64,
        name: &str,
        unit_id: i64,
        roles: &[String],
        token_hash: &str,
        prefix: &str,
        created_by: i64,
        audit: &NewAuditEntry,
    ) -> StoreResult<i64> {
        let (algorithm, at) = (self.audit_hash, now());
        let id = transaction!(&self.db, |tx| {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO api_tokens (district_id, name, unit_id, roles, token_hash, prefix, created_by, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(district_id)
            .bind(name)
            .bind(unit_id)
            .bind(roles.join(","))
            .bind(token_hash)
            .bind(prefix)
            .bind(created_by)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?;
            let entry = NewAuditEntry { object: format!("token:{id}"), ..audit.clone() };
            append_audit!(tx, algorithm, &entry);
            id
        });
        Ok(id)
    }

    /// A district's tokens, newest first.
    pub async fn api_tokens(&self, district_id: i64) -> StoreResult<Vec<ApiToken>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, ApiToken>(
            "SELECT id, district_id, name, unit_id, roles, prefix, created_at, last_used_at, revoked_at
             FROM api_tokens WHERE district_id = $1 ORDER BY id DESC"
        )
        .bind(district_id)
        .fetch_all(pool)
        .await)?)
    }

    /// The live (not revoked) token with this hash.
    pub async fn api_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiToken>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, ApiToken>(
            "SELECT id, district_id, name, unit_id, roles, prefix, created_at, last_used_at, revoked_at
             FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL"
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await)?)
    }

    /// Revokes a token of the district; false when there is no such live token.
    pub async fn revoke_api_token(&self, district_id: i64, id: i64, audit: &NewAuditEntry) -> StoreResult<bool> {
        let (algorithm, at) = (self.audit_hash, now());
        let revoked = transaction!(&self.db, |tx| {
            let n = sqlx::query(
                "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND district_id = $3 AND revoked_at IS NULL",
            )
            .bind(at)
            .bind(id)
            .bind(district_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n > 0 {
                append_audit!(tx, algorithm, audit);
            }
            n > 0
        });
        Ok(revoked)
    }

    /// Marks a token used. The trail records a use when the token had been
    /// idle for `quiet` (a client's burst of calls is one entry, not thousands).
    pub async fn touch_api_token(
        &self,
        token: &ApiToken,
        quiet: chrono::Duration,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let (algorithm, at) = (self.audit_hash, now());
        let record = token.last_used_at.is_none_or(|last| at - last > quiet);
        if !record && token.last_used_at.is_some_and(|last| at - last < chrono::Duration::seconds(60)) {
            return Ok(());
        }
        transaction!(&self.db, |tx| {
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(at)
                .bind(token.id)
                .execute(&mut *tx)
                .await?;
            if record {
                append_audit!(tx, algorithm, audit);
            }
        });
        Ok(())
    }
}
