//! A district's own data: its category table (every version kept) and its
//! working calendar, each change written with its audit entry.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::cases::Case;
use super::{Store, StoreResult, now};
use crate::append_audit;
use crate::auth::audit::NewAuditEntry;
use crate::domain::calendar::WorkCalendar;
use crate::domain::categories::{self, CategoryTable};
use crate::{read, transaction};

/// Which of a district's configured tables are current: the newest saved
/// category table (none: the shipped one) and the map's version, which keys
/// the grid index ([`crate::places::grid_index_in`]). Read with every
/// session, so that filing a report needs no read of its own for them.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct DistrictTables {
    /// The newest saved category table's version.
    pub categories_version: Option<String>,
    /// When the district was created (a recreated demo district may reuse an id).
    pub district_created_at: DateTime<Utc>,
    /// Bumped by every grid import.
    pub places_version: i64,
}

/// The columns of [`DistrictTables`], over `districts d`.
pub(crate) const DISTRICT_TABLES: &str = "(SELECT c.version FROM category_tables c WHERE c.district_id = d.id ORDER BY c.id DESC LIMIT 1) AS categories_version,
     d.created_at AS district_created_at, d.places_version";

/// A district's settings kept as one text each (TOML, checked by the domain).
#[derive(Clone, Copy, Debug)]
enum Document {
    /// The working calendar (domain::calendar).
    Calendar,
    /// Ranking weights and bulletin thresholds (domain::assessment).
    Assessment,
}

impl Document {
    fn table(self) -> &'static str {
        match self {
            Document::Calendar => "calendars",
            Document::Assessment => "assessment_settings",
        }
    }
}

/// Category names by the version each case was filed under.
pub struct CategoryNames(HashMap<String, Arc<CategoryTable>>);

impl CategoryNames {
    /// The name of `case`'s category, or its code when the table lacks it.
    pub fn of(&self, case: &Case) -> String {
        self.0
            .get(&case.category_version)
            .and_then(|t| t.category(&case.category_code))
            .map_or_else(|| case.category_code.clone(), |c| c.name.clone())
    }
}

impl Store {
    /// The district's newest category table as text, if it has its own.
    pub async fn category_table_text(&self, district_id: i64) -> StoreResult<Option<(String, String)>> {
        Ok(read!(&self.db, |pool| sqlx::query_as::<_, (String, String)>(
            "SELECT version, body FROM category_tables WHERE district_id = $1 ORDER BY id DESC LIMIT 1"
        )
        .bind(district_id)
        .fetch_optional(pool)
        .await)?)
    }

    /// A version of the district's category table as text.
    pub async fn category_table_version(&self, district_id: i64, version: &str) -> StoreResult<Option<String>> {
        Ok(read!(&self.db, |pool| sqlx::query_scalar::<_, String>(
            "SELECT body FROM category_tables WHERE district_id = $1 AND version = $2"
        )
        .bind(district_id)
        .bind(version)
        .fetch_optional(pool)
        .await)?)
    }

    /// Saves a new version of the category table (checked by the caller).
    pub async fn save_category_table(
        &self,
        district_id: i64,
        version: &str,
        body: &str,
        by: Option<i64>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let (algorithm, at) = (self.audit_hash, now());
        transaction!(&self.db, |tx| {
            sqlx::query(
                "INSERT INTO category_tables (district_id, version, body, created_by, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(district_id)
            .bind(version)
            .bind(body)
            .bind(by)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            append_audit!(tx, algorithm, audit);
        });
        Ok(())
    }

    /// The district's calendar as text, if it has its own.
    pub async fn calendar_text(&self, district_id: i64) -> StoreResult<Option<String>> {
        self.document_text(Document::Calendar, district_id).await
    }

    /// Replaces the district's calendar (checked by the caller).
    pub async fn save_calendar(
        &self,
        district_id: i64,
        body: &str,
        by: Option<i64>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.save_document(Document::Calendar, district_id, body, by, audit).await
    }

    /// The district's assessment settings (ranking weights, bulletin thresholds), if saved.
    pub async fn assessment_text(&self, district_id: i64) -> StoreResult<Option<String>> {
        self.document_text(Document::Assessment, district_id).await
    }

    /// Replaces the assessment settings (checked by the caller).
    pub async fn save_assessment(
        &self,
        district_id: i64,
        body: &str,
        by: Option<i64>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.save_document(Document::Assessment, district_id, body, by, audit).await
    }

    async fn document_text(&self, document: Document, district_id: i64) -> StoreResult<Option<String>> {
        let sql = format!("SELECT body FROM {} WHERE district_id = $1", document.table());
        Ok(read!(&self.db, |pool| sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(district_id)
            .fetch_optional(pool)
            .await)?)
    }

    async fn save_document(
        &self,
        document: Document,
        district_id: i64,
        body: &str,
        by: Option<i64>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let (algorithm, at) = (self.audit_hash, now());
        let sql = format!(
            "INSERT INTO {} (district_id, body, updated_by, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (district_id) DO UPDATE SET body = excluded.body, updated_by = excluded.updated_by,
             updated_at = excluded.updated_at",
            document.table()
        );
        transaction!(&self.db, |tx| {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(district_id)
                .bind(body)
                .bind(by)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            append_audit!(tx, algorithm, audit);
        });
        Ok(())
    }

    /// The category table reports are filed under now: the district's newest,
    /// or the shipped one.
    pub async fn categories(&self, district_id: i64) -> StoreResult<Arc<CategoryTable>> {
        let newest: Option<String> = read!(&self.db, |pool| sqlx::query_scalar::<_, String>(
            "SELECT version FROM category_tables WHERE district_id = $1 ORDER BY id DESC LIMIT 1"
        )
        .bind(district_id)
        .fetch_optional(pool)
        .await)?;
        self.categories_named(district_id, newest.as_deref()).await
    }

    /// Which category table and which map of the district are current, in
    /// one read (a session reads them with its user: [`Store::session_user`]).
    pub async fn district_tables(&self, district_id: i64) -> StoreResult<DistrictTables> {
        let found = read!(&self.db, |pool| sqlx::query_as::<_, DistrictTables>(sqlx::AssertSqlSafe(format!(
            "SELECT {DISTRICT_TABLES} FROM districts d WHERE d.id = $1"
        )))
        .bind(district_id)
        .fetch_optional(pool)
        .await)?;
        found.ok_or(super::StoreError::NotFound)
    }

    /// The district's category table of the newest version saved
    /// ([`DistrictTables::categories_version`]): the shipped one until the
    /// district saves its own.
    pub async fn categories_named(&self, district_id: i64, newest: Option<&str>) -> StoreResult<Arc<CategoryTable>> {
        match newest {
            Some(version) => self.categories_of_version(district_id, version).await,
            None => Ok(categories::shipped_arc()),
        }
    }

    /// The names of the categories of `cases`, each read in the version of the
    /// table the case was filed under (a later table may rename or drop one).
    pub async fn category_names(&self, district_id: i64, cases: &[Case]) -> StoreResult<CategoryNames> {
        let mut tables = HashMap::new();
        for case in cases {
            if !tables.contains_key(&case.category_version) {
                let table = self.categories_of_version(district_id, &case.category_version).await?;
                tables.insert(case.category_version.clone(), table);
            }
        }
        Ok(CategoryNames(tables))
    }

    /// The category table of a version (for showing old cases).
    pub async fn categories_of_version(&self, district_id: i64, version: &str) -> StoreResult<Arc<CategoryTable>> {
        if version == categories::shipped().version {
            return Ok(categories::shipped_arc());
        }
        let key = (district_id, version.to_string());
        if let Some(table) = self.derived.category_tables.lock().expect("table cache").get(&key) {
            return Ok(table.clone());
        }
        let Some(body) = self.category_table_version(district_id, version).await? else {
            return Ok(categories::shipped_arc());
        };
        // A saved table was checked when it was saved; one that no longer parses
        // (a newer binary's stricter rules) falls back to the shipped table.
        let table = CategoryTable::parse(&body).map(Arc::new).unwrap_or_else(|_| categories::shipped_arc());
        self.derived.category_tables.lock().expect("table cache").insert(key, table.clone());
        Ok(table)
    }

    /// The district's working calendar: its own, or the shipped one.
    pub async fn calendar(&self, district_id: i64) -> StoreResult<WorkCalendar> {
        Ok(match self.calendar_text(district_id).await? {
            Some(body) => WorkCalendar::parse(&body).unwrap_or_else(|_| WorkCalendar::standard()),
            None => WorkCalendar::standard(),
        })
    }
}
