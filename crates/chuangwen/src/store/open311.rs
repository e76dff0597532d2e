//! The Open311 GeoReport v2 endpoint's data: its clients and their keys,
//! the tokens handed back for requests, and the windows of requests and
//! updates it reads (see `crate::open311`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::QueryBuilder;

use super::cases::{CASE_COLUMNS, Case};
use super::{Store, StoreResult, now};
use crate::auth::audit::NewAuditEntry;
use crate::auth::policy::Scope;
use crate::domain::cases::CaseState;
use crate::{append_audit, read, transaction};

/// A client of the Open311 endpoint (a city platform, the 12345 hotline, a
/// civic app), holding one api_key.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Open311Client {
    /// Row id.
    pub id: i64,
    /// District.
    pub district_id: i64,
    /// What the client is.
    pub name: String,
    /// The unit whose cases it may follow; `None`: the whole district.
    pub unit_id: Option<i64>,
    /// First characters of the key.
    pub prefix: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last used.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

const CLIENT_COLUMNS: &str =
    "SELECT id, district_id, name, unit_id, prefix, created_at, last_used_at, revoked_at FROM open311_clients";

/// Which requests `GET requests` reads: either a list of numbers, or a window
/// of report times with optional categories and states.
#[derive(Clone, Debug, Default)]
pub struct RequestQuery {
    /// Case numbers (`service_request_id`); when set, the rest is ignored.
    pub numbers: Vec<String>,
    /// Category codes (`service_code`); empty: all.
    pub categories: Vec<String>,
    /// State codes; empty: all.
    pub states: Vec<String>,
    /// Reported at or after.
    pub from: Option<DateTime<Utc>>,
    /// Reported before.
    pub to: Option<DateTime<Utc>>,
    /// Rows to skip (`page`).
    pub offset: i64,
    /// Rows to return (`page_size`).
    pub limit: i64,
    /// Whose view: a key's scope sees every state; `None`, a caller without
    /// a key, sees only public cases (`domain::open311::is_public`).
    pub scope: Option<Scope>,
}

/// A step of a case as an update (`servicerequestupdates`).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CaseUpdate {
    /// The event's id (`update_id`).
    pub id: i64,
    /// The case's number.
    pub number: String,
    /// The step's code, or `report`, or `external_update`.
    pub action: String,
    /// State after the step.
    pub to_state: String,
    /// What was said.
    pub note: String,
    /// When.
    pub at: DateTime<Utc>,
}

impl Store {
    /// Creates a client; only the key's hash is kept.
    pub async fn create_open311_client(
        &self,
        district_id: i64,
        name: &str,
        unit_id: Option<i64>,
        key_hash: &str,
        prefix: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<i64> {
        let (algorithm, at) = (self.audit_hash, now());
        let id = transaction!(&self.db, |tx| {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO open311_clients (district_id, name, unit_id, key_hash, prefix, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(district_id)
            .bind(name)
            .bind(unit_id)
            .bind(key_hash)
            .bind(prefix)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?;
            let entry = NewAuditEntry { object: format!("open311:{id}"), ..audit.clone() };
            append_audit!(tx, algorithm, &entry);
            id
        });
        Ok(id)
    }

    /// A district's clients, newest first.
    pub async fn open311_clients(&self, district_id: i64) -> StoreResult<Vec<Open311Client>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, Open311Client>(sqlx::AssertSqlSafe(format!(
            "{CLIENT_COLUMNS} WHERE district_id = $1 ORDER BY id DESC"
        )))
        .bind(district_id)
        .fetch_all(pool)
        .await)?)
    }

    /// The live (not revoked) client holding the key with this hash.
    pub async fn open311_client_by_hash(&self, key_hash: &str) -> StoreResult<Option<Open311Client>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, Open311Client>(sqlx::AssertSqlSafe(format!(
            "{CLIENT_COLUMNS} WHERE key_hash = $1 AND revoked_at IS NULL"
        )))
        .bind(key_hash)
        .fetch_optional(pool)
        .await)?)
    }

    /// Revokes a client's key; false when there is no such live client.
    pub async fn revoke_open311_client(&self, district_id: i64, id: i64, audit: &NewAuditEntry) -> StoreResult<bool> {
        let (algorithm, at) = (self.audit_hash, now());
        let revoked = transaction!(&self.db, |tx| {
            let n = sqlx::query(
                "UPDATE open311_clients SET revoked_at = $1 WHERE id = $2 AND district_id = $3 AND revoked_at IS NULL",
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

    /// Marks a client's key used (at most once a minute).
    pub async fn touch_open311_client(&self, client: &Open311Client) -> StoreResult<()> {
        let at = now();
        if client.last_used_at.is_some_and(|last| at - last < chrono::Duration::seconds(60)) {
            return Ok(());
        }
        transaction!(&self.db, |tx| {
            sqlx::query("UPDATE open311_clients SET last_used_at = $1 WHERE id = $2")
                .bind(at)
                .bind(client.id)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// The number of the case a token stands for (kept with the case, in
    /// its transaction, as an idempotency key `open311:<token>`).
    pub async fn open311_token(&self, district_id: i64, token: &str) -> StoreResult<Option<String>> {
        Ok(self.idempotent_response(district_id, &format!("open311:{token}")).await?.map(|stored| stored.response))
    }

    /// Deletes an attachment no case has taken (the photo of a request that
    /// was not filed).
    pub async fn delete_unlinked_attachment(&self, district_id: i64, id: i64) -> StoreResult<()> {
        transaction!(&self.db, |tx| {
            sqlx::query("DELETE FROM attachments WHERE id = $1 AND district_id = $2 AND case_id IS NULL")
                .bind(id)
                .bind(district_id)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// The requests of a query, newest first.
    pub async fn open311_requests(&self, district_id: i64, query: &RequestQuery) -> StoreResult<Vec<Case>> {
        Ok(read!(&self.db, |pool| {
            let mut q = QueryBuilder::new(CASE_COLUMNS);
            q.push(" WHERE district_id = ").push_bind(district_id);
            match &query.scope {
                Some(scope) => super::cases::push_case_scope(&mut q, district_id, scope, None),
                None => {
                    q.push(" AND state IN (");
                    let mut list = q.separated(", ");
                    for state in CaseState::ALL.into_iter().filter(|s| crate::domain::open311::is_public(*s)) {
                        list.push_bind(state.code().to_string());
                    }
                    q.push(")");
                }
            }
            if !query.numbers.is_empty() {
                q.push(" AND number IN (");
                let mut list = q.separated(", ");
                for n in &query.numbers {
                    list.push_bind(n.clone());
                }
                q.push(")");
            } else {
                if let Some(from) = query.from {
                    q.push(" AND reported_at >= ").push_bind(from);
                }
                if let Some(to) = query.to {
                    q.push(" AND reported_at <= ").push_bind(to);
                }
                for (column, values) in [("category_code", &query.categories), ("state", &query.states)] {
                    if !values.is_empty() {
                        q.push(format_args!(" AND {column} IN ("));
                        let mut list = q.separated(", ");
                        for v in values {
                            list.push_bind(v.clone());
                        }
                        q.push(")");
                    }
                }
            }
            q.push(" ORDER BY reported_at DESC, id DESC LIMIT ")
                .push_bind(query.limit.max(1))
                .push(" OFFSET ")
                .push_bind(query.offset.max(0));
            q.build_query_as::<Case>().fetch_all(pool).await
        })?)
    }

    /// The steps of the cases a scope sees, in a window of time, oldest first.
    pub async fn case_updates(
        &self,
        district_id: i64,
        scope: &Scope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<CaseUpdate>> {
        Ok(read!(&self.db, |pool| {
            let mut q = QueryBuilder::new(
                "SELECT e.id, c.number, e.action, e.to_state, e.note, e.at
                 FROM case_events e JOIN cases c ON c.id = e.case_id WHERE e.district_id = ",
            );
            q.push_bind(district_id).push(" AND e.at >= ").push_bind(from).push(" AND e.at < ").push_bind(to);
            // The case list's own scope (its columns are the case's: an
            // event has no street, community or unit).
            super::cases::push_case_scope(&mut q, district_id, scope, None);
            q.push(" ORDER BY e.at, e.id LIMIT ").push_bind(limit.max(1));
            q.build_query_as::<CaseUpdate>().fetch_all(pool).await
        })?)
    }

    /// Adds what a client says about a case to its history, without moving
    /// it: `external_update`, with the audit entry, in one transaction.
    pub async fn add_external_update(
        &self,
        case: &Case,
        actor: &str,
        note: &str,
        detail: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<i64> {
        let (algorithm, at) = (self.audit_hash, now());
        let id = transaction!(&self.db, |tx| {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO case_events (case_id, district_id, action, from_state, to_state, actor_id, actor, note, detail, at)
                 VALUES ($1, $2, 'external_update', $3, $3, NULL, $4, $5, $6, $7) RETURNING id",
            )
            .bind(case.id)
            .bind(case.district_id)
            .bind(&case.state)
            .bind(actor)
            .bind(note)
            .bind(detail)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?;
            let entry = NewAuditEntry { object: format!("case:{}", case.id), ..audit.clone() };
            append_audit!(tx, algorithm, &entry);
            id
        });
        Ok(id)
    }
}
