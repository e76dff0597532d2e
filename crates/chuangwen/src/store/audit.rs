//! The audit trail in the database: appended inside the transaction of the
//! change it records, read back page by page, verified end to end.

use chrono::{DateTime, Utc};

use super::{Store, StoreResult};
use crate::auth::audit::{AuditRecord, ChainBreak, ChainWalker, NewAuditEntry};
use crate::{read, transaction};

/// The current time at the precision both databases keep (microseconds),
/// so a hash computed now matches the row read back later.
pub fn audit_now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// Appends an entry inside an open transaction `$tx`:
/// `append_audit!(tx, self.audit_hash, &entry)`. The head row is locked by
/// the first statement, so concurrent appends queue and the chain never forks.
#[macro_export]
macro_rules! append_audit {
    ($tx:ident, $algorithm:expr, $entry:expr) => {{
        let entry: &$crate::auth::audit::NewAuditEntry = $entry;
        $crate::append_audit_entries!($tx, &[($algorithm, entry.clone())]);
    }};
}

/// Appends many entries inside an open transaction `$tx`, chained in order:
/// `append_audit_entries!(tx, &[(algorithm, entry), …])`. The head row is
/// locked and moved once for all of them (a batch of reports shares it).
#[macro_export]
macro_rules! append_audit_entries {
    ($tx:ident, $entries:expr) => {{
        let entries: &[($crate::auth::audit::HashAlgorithm, $crate::auth::audit::NewAuditEntry)] = $entries;
        if !entries.is_empty() {
            let (last, mut prev): (i64, String) =
                sqlx::query_as("UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, last_hash")
                    .bind(entries.len() as i64)
                    .fetch_one(&mut *$tx)
                    .await?;
            let mut seq = last - entries.len() as i64;
            for chunk in entries.chunks($crate::store::audit::AUDIT_ROWS) {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO audit_log (id, district_id, at, actor_id, actor, action, object, detail, ip, algorithm, prev_hash, hash) ",
                );
                let mut rows = Vec::with_capacity(chunk.len());
                for (algorithm, entry) in chunk {
                    seq += 1;
                    let at = $crate::store::audit::audit_now();
                    let hash = $crate::auth::audit::entry_hash(
                        *algorithm,
                        &prev,
                        seq,
                        entry.district_id,
                        at,
                        entry.actor_id,
                        &entry.actor,
                        entry.action.code(),
                        &entry.object,
                        &entry.detail,
                        &entry.ip,
                    );
                    rows.push((seq, at, *algorithm, entry, std::mem::replace(&mut prev, hash.clone()), hash));
                }
                q.push_values(rows, |mut row, (seq, at, algorithm, entry, prev_hash, hash)| {
                    row.push_bind(seq)
                        .push_bind(entry.district_id)
                        .push_bind(at)
                        .push_bind(entry.actor_id)
                        .push_bind(entry.actor.clone())
                        .push_bind(entry.action.code())
                        .push_bind(entry.object.clone())
                        .push_bind(entry.detail.clone())
                        .push_bind(entry.ip.clone())
                        .push_bind(algorithm.code())
                        .push_bind(prev_hash)
                        .push_bind(hash);
                });
                q.build().execute(&mut *$tx).await?;
            }
            sqlx::query("UPDATE audit_head SET last_hash = $1 WHERE id = 1").bind(&prev).execute(&mut *$tx).await?;
        }
    }};
}

/// Audit entries per `INSERT` of [`append_audit_entries!`]: 12 values an
/// entry, well under either backend's limit of bound values; as many as the
/// filing path writes a statement (`store::filing`).
pub const AUDIT_ROWS: usize = 500;

/// Filters of the audit page.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Only this action code.
    pub action: Option<String>,
    /// Only this actor (username or token name).
    pub actor: Option<String>,
    /// From this time on.
    pub from: Option<DateTime<Utc>>,
    /// Before this time.
    pub to: Option<DateTime<Utc>>,
    /// Keyset cursor: entries older than this id.
    pub before_id: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// Entries read per query while verifying.
const VERIFY_PAGE: i64 = 5_000;

impl Store {
    /// Appends one entry in a transaction of its own.
    pub async fn audit(&self, entry: &NewAuditEntry) -> StoreResult<()> {
        let algorithm = self.audit_hash;
        transaction!(&self.db, |tx| {
            append_audit!(tx, algorithm, entry);
        });
        Ok(())
    }

    /// One page of a district's trail, newest first (plus system entries).
    pub async fn audit_page(&self, district_id: i64, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        Ok(read!(&self.db, |pool| {
            let mut q = sqlx::QueryBuilder::new(
                "SELECT id, district_id, at, actor_id, actor, action, object, detail, ip, algorithm, prev_hash, hash
                 FROM audit_log WHERE (district_id = ",
            );
            q.push_bind(district_id).push(" OR district_id IS NULL)");
            if let Some(action) = &filter.action {
                q.push(" AND action = ").push_bind(action.clone());
            }
            if let Some(actor) = &filter.actor {
                q.push(" AND actor = ").push_bind(actor.clone());
            }
            if let Some(from) = filter.from {
                q.push(" AND at >= ").push_bind(from);
            }
            if let Some(to) = filter.to {
                q.push(" AND at < ").push_bind(to);
            }
            if let Some(before) = filter.before_id {
                q.push(" AND id < ").push_bind(before);
            }
            q.push(" ORDER BY id DESC LIMIT ").push_bind(filter.limit.max(1));
            q.build_query_as::<AuditRecord>().fetch_all(pool).await
        })?)
    }

    /// Verifies the whole chain; `Ok(n)` is the number of sound entries,
    /// `Err` names the first entry that was changed, removed or reordered.
    /// The chain is walked up to the head read at the start; entries appended
    /// while it walks (a server in use) are left for the next verification.
    pub async fn verify_audit(&self) -> StoreResult<Result<i64, ChainBreak>> {
        // One statement, one snapshot: the head and the highest entry agree
        // unless a row was appended without moving the head.
        let (head_seq, head_hash, highest): (i64, String, Option<i64>) = read!(&self.db, |pool| sqlx::query_as(
            "SELECT seq, last_hash, (SELECT MAX(id) FROM audit_log) FROM audit_head WHERE id = 1"
        )
        .fetch_one(pool)
        .await)?;
        if let Some(highest) = highest.filter(|h| *h > head_seq) {
            return Ok(Err(ChainBreak {
                id: highest,
                reason: format!("第 {highest} 条记录在链尾（第 {head_seq} 条）之后：记录被追加"),
            }));
        }
        let mut walker = ChainWalker::default();
        let mut after = 0i64;
        loop {
            let page: Vec<AuditRecord> = read!(&self.db, |pool| {
                sqlx::query_as::<_, AuditRecord>(
                "SELECT id, district_id, at, actor_id, actor, action, object, detail, ip, algorithm, prev_hash, hash
                 FROM audit_log WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3"
            )
            .bind(after)
            .bind(head_seq)
            .bind(VERIFY_PAGE)
            .fetch_all(pool)
            .await
            })?;
            let Some(last) = page.last() else { break };
            after = last.id;
            for record in &page {
                if let Err(broken) = walker.check(record) {
                    return Ok(Err(broken));
                }
            }
        }
        Ok(walker.finish(head_seq, &head_hash))
    }
}
