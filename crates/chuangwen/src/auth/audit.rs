//! The audit trail's chain (等保 2.0 安全审计): each entry carries the hash of
//! the one before it, so changing, removing or reordering an entry breaks the
//! chain at that entry. Pure: the store appends and reads; this computes and
//! verifies.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The hash of the chain's first link.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash function of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// SHA-256.
    Sha256,
    /// SM3 (GB/T 32905-2016).
    Sm3,
}

impl HashAlgorithm {
    /// Parses `sha256` or `sm3`.
    pub fn parse(raw: &str) -> Option<HashAlgorithm> {
        match raw {
            "sha256" => Some(HashAlgorithm::Sha256),
            "sm3" => Some(HashAlgorithm::Sm3),
            _ => None,
        }
    }
    /// The stored name.
    pub fn code(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "sha256",
            HashAlgorithm::Sm3 => "sm3",
        }
    }
    fn digest_hex(self, bytes: &[u8]) -> String {
        let digest: Vec<u8> = match self {
            HashAlgorithm::Sha256 => Sha256::digest(bytes).to_vec(),
            HashAlgorithm::Sm3 => sm3::Sm3::digest(bytes).to_vec(),
        };
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What happened, as the trail records it. One English code per event; the
/// label is what the audit page shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditAction {
    /// 登录成功.
    Login,
    /// 登录失败.
    LoginFailed,
    /// 账号锁定.
    Lockout,
    /// 退出登录.
    Logout,
    /// 退出所有会话.
    LogoutEverywhere,
    /// 修改本人密码.
    PasswordChanged,
    /// 管理员重置密码.
    PasswordReset,
    /// 新建用户.
    UserCreated,
    /// 停用用户.
    UserDisabled,
    /// 启用用户.
    UserEnabled,
    /// 角色或单位（数据范围）变更.
    RolesChanged,
    /// 新建 API 令牌.
    TokenCreated,
    /// 吊销 API 令牌.
    TokenRevoked,
    /// 使用 API 令牌.
    TokenUsed,
    /// 查看个人信息明文.
    PersonalDataRevealed,
    /// 导出数据.
    DataExported,
    /// 导入数据.
    DataImported,
    /// 上报问题.
    CaseReported,
    /// 案卷流转.
    CaseTransition,
    /// 配置变更 (dispatch rules, categories, calendar).
    SettingsChanged,
    /// 生成报告 (督察单, 周报, 通报) on demand.
    ReportMade,
    /// 外部系统补充说明 (Open311 `servicerequestupdates`).
    CaseNoted,
    /// 撤销批量导入: a bulk intake batch's cases taken back out.
    ImportUndone,
    /// 测评体系或测评轮次变更: a system loaded, a round planned, entered scores, a round closed.
    EvaluationChanged,
    /// 测评作答: an evaluator's answers at a point.
    EvaluationAnswered,
}

impl AuditAction {
    /// Every action, for the audit page's filter.
    pub const ALL: [AuditAction; 25] = [
        AuditAction::Login,
        AuditAction::LoginFailed,
        AuditAction::Lockout,
        AuditAction::Logout,
        AuditAction::LogoutEverywhere,
        AuditAction::PasswordChanged,
        AuditAction::PasswordReset,
        AuditAction::UserCreated,
        AuditAction::UserDisabled,
        AuditAction::UserEnabled,
        AuditAction::RolesChanged,
        AuditAction::TokenCreated,
        AuditAction::TokenRevoked,
        AuditAction::TokenUsed,
        AuditAction::PersonalDataRevealed,
        AuditAction::DataExported,
        AuditAction::DataImported,
        AuditAction::CaseReported,
        AuditAction::CaseTransition,
        AuditAction::SettingsChanged,
        AuditAction::ReportMade,
        AuditAction::CaseNoted,
        AuditAction::ImportUndone,
        AuditAction::EvaluationChanged,
        AuditAction::EvaluationAnswered,
    ];

    /// The stored code.
    pub fn code(self) -> &'static str {
        match self {
            AuditAction::Login => "login",
            AuditAction::LoginFailed => "login_failed",
            AuditAction::Lockout => "lockout",
            AuditAction::Logout => "logout",
            AuditAction::LogoutEverywhere => "logout_everywhere",
            AuditAction::PasswordChanged => "password_changed",
            AuditAction::PasswordReset => "password_reset",
            AuditAction::UserCreated => "user_created",
            AuditAction::UserDisabled => "user_disabled",
            AuditAction::UserEnabled => "user_enabled",
            AuditAction::RolesChanged => "roles_changed",
            AuditAction::TokenCreated => "token_created",
            AuditAction::TokenRevoked => "token_revoked",
            AuditAction::TokenUsed => "token_used",
            AuditAction::PersonalDataRevealed => "personal_data_revealed",
            AuditAction::DataExported => "data_exported",
            AuditAction::DataImported => "data_imported",
            AuditAction::CaseReported => "case_reported",
            AuditAction::CaseTransition => "case_transition",
            AuditAction::SettingsChanged => "settings_changed",
            AuditAction::ReportMade => "report_made",
            AuditAction::CaseNoted => "case_noted",
            AuditAction::ImportUndone => "import_undone",
            AuditAction::EvaluationChanged => "evaluation_changed",
            AuditAction::EvaluationAnswered => "evaluation_answered",
        }
    }

    /// The Chinese label.
    pub fn label(self) -> &'static str {
        match self {
            AuditAction::Login => "登录成功",
            AuditAction::LoginFailed => "登录失败",
            AuditAction::Lockout => "账号锁定",
            AuditAction::Logout => "退出登录",
            AuditAction::LogoutEverywhere => "退出所有会话",
            AuditAction::PasswordChanged => "修改本人密码",
            AuditAction::PasswordReset => "重置密码",
            AuditAction::UserCreated => "新建用户",
            AuditAction::UserDisabled => "停用用户",
            AuditAction::UserEnabled => "启用用户",
            AuditAction::RolesChanged => "角色或单位变更",
            AuditAction::TokenCreated => "新建 API 令牌",
            AuditAction::TokenRevoked => "吊销 API 令牌",
            AuditAction::TokenUsed => "使用 API 令牌",
            AuditAction::PersonalDataRevealed => "查看个人信息",
            AuditAction::DataExported => "导出数据",
            AuditAction::DataImported => "导入数据",
            AuditAction::CaseReported => "上报问题",
            AuditAction::CaseTransition => "案卷流转",
            AuditAction::SettingsChanged => "配置变更",
            AuditAction::ReportMade => "生成报告",
            AuditAction::CaseNoted => "外部补充说明",
            AuditAction::ImportUndone => "撤销批量导入",
            AuditAction::EvaluationChanged => "测评体系或轮次变更",
            AuditAction::EvaluationAnswered => "测评作答",
        }
    }

    /// Parses a stored code.
    pub fn from_code(code: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.code() == code)
    }
}

/// An entry to append: who did what to which object.
#[derive(Clone, Debug)]
pub struct NewAuditEntry {
    /// District, when the event belongs to one.
    pub district_id: Option<i64>,
    /// The acting user, when known.
    pub actor_id: Option<i64>,
    /// Username, token name, or `system`.
    pub actor: String,
    /// What happened.
    pub action: AuditAction,
    /// The object, e.g. `user:17`.
    pub object: String,
    /// Detail as JSON text.
    pub detail: String,
    /// The client's address.
    pub ip: String,
}

/// An entry as stored.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct AuditRecord {
    /// Sequence number: 1, 2, 3… without gaps.
    pub id: i64,
    /// District.
    pub district_id: Option<i64>,
    /// When, to the microsecond.
    pub at: DateTime<Utc>,
    /// Acting user.
    pub actor_id: Option<i64>,
    /// Actor's name.
    pub actor: String,
    /// Action code.
    pub action: String,
    /// Object.
    pub object: String,
    /// Detail, JSON.
    pub detail: String,
    /// Client address.
    pub ip: String,
    /// `sha256` or `sm3`.
    pub algorithm: String,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

/// The hash of an entry: over every field and the previous hash, in a
/// canonical JSON array (unambiguous where plain joining would not be).
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    algorithm: HashAlgorithm,
    prev_hash: &str,
    id: i64,
    district_id: Option<i64>,
    at: DateTime<Utc>,
    actor_id: Option<i64>,
    actor: &str,
    action: &str,
    object: &str,
    detail: &str,
    ip: &str,
) -> String {
    let canonical = serde_json::json!([
        prev_hash,
        id,
        district_id,
        at.timestamp_micros(),
        actor_id,
        actor,
        action,
        object,
        detail,
        ip
    ])
    .to_string();
    algorithm.digest_hex(canonical.as_bytes())
}

/// The hash a stored record should carry.
pub fn record_hash(record: &AuditRecord) -> Option<String> {
    let algorithm = HashAlgorithm::parse(&record.algorithm)?;
    Some(entry_hash(
        algorithm,
        &record.prev_hash,
        record.id,
        record.district_id,
        record.at,
        record.actor_id,
        &record.actor,
        &record.action,
        &record.object,
        &record.detail,
        &record.ip,
    ))
}

/// Where the chain breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainBreak {
    /// The first entry that was changed, removed or moved.
    pub id: i64,
    /// What is wrong, in Chinese.
    pub reason: String,
}

/// Walks the chain in id order. `expected_prev` and `expected_id` carry the
/// state between pages; [`verify_end`] checks the end against the head.
pub struct ChainWalker {
    expected_id: i64,
    expected_prev: String,
}

impl Default for ChainWalker {
    fn default() -> Self {
        ChainWalker { expected_id: 1, expected_prev: GENESIS.to_string() }
    }
}

impl ChainWalker {
    /// Checks the next entry.
    pub fn check(&mut self, record: &AuditRecord) -> Result<(), ChainBreak> {
        if record.id != self.expected_id {
            return Err(ChainBreak {
                id: self.expected_id,
                reason: format!("第 {} 条记录缺失（下一条是第 {} 条）：记录被删除", self.expected_id, record.id),
            });
        }
        if record.prev_hash != self.expected_prev {
            return Err(ChainBreak {
                id: record.id,
                reason: format!("第 {} 条记录与前一条不相连：记录被删除、插入或调换了顺序", record.id),
            });
        }
        match record_hash(record) {
            Some(hash) if hash == record.hash => {}
            _ => {
                return Err(ChainBreak {
                    id: record.id, reason: format!("第 {} 条记录的内容被改动", record.id)
                });
            }
        }
        self.expected_id += 1;
        self.expected_prev = record.hash.clone();
        Ok(())
    }

    /// Checks that the walk ended where the head says the chain ends.
    pub fn finish(&self, head_seq: i64, head_hash: &str) -> Result<i64, ChainBreak> {
        let last = self.expected_id - 1;
        if last < head_seq {
            return Err(ChainBreak {
                id: last + 1,
                reason: format!("第 {} 条及之后的记录缺失（应有 {head_seq} 条）：记录被删除", last + 1),
            });
        }
        if last > head_seq || self.expected_prev != head_hash {
            return Err(ChainBreak {
                id: last,
                reason: format!("第 {last} 条之后的链尾与记录头不符：记录被追加或改动"),
            });
        }
        Ok(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64, algorithm: HashAlgorithm) -> Vec<AuditRecord> {
        let mut prev = GENESIS.to_string();
        let at = DateTime::from_timestamp_micros(1_790_000_000_000_000).unwrap();
        (1..=n)
            .map(|id| {
                let hash =
                    entry_hash(algorithm, &prev, id, Some(1), at, Some(id), "office01", "login", "", "{}", "127.0.0.1");
                let record = AuditRecord {
                    id,
                    district_id: Some(1),
                    at,
                    actor_id: Some(id),
                    actor: "office01".into(),
                    action: "login".into(),
                    object: String::new(),
                    detail: "{}".into(),
                    ip: "127.0.0.1".into(),
                    algorithm: algorithm.code().into(),
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                record
            })
            .collect()
    }

    fn verify(records: &[AuditRecord], head_seq: i64, head_hash: &str) -> Result<i64, ChainBreak> {
        let mut walker = ChainWalker::default();
        for r in records {
            walker.check(r)?;
        }
        walker.finish(head_seq, head_hash)
    }

    #[test]
    fn an_untouched_chain_verifies_with_either_hash() {
        for algorithm in [HashAlgorithm::Sha256, HashAlgorithm::Sm3] {
            let records = chain(5, algorithm);
            assert_eq!(verify(&records, 5, &records[4].hash), Ok(5));
        }
    }

    #[test]
    fn sm3_and_sha256_give_different_hashes() {
        assert_ne!(chain(1, HashAlgorithm::Sha256)[0].hash, chain(1, HashAlgorithm::Sm3)[0].hash);
    }

    #[test]
    fn an_edit_is_found_at_the_edited_entry() {
        let mut records = chain(5, HashAlgorithm::Sha256);
        let head = records[4].hash.clone();
        records[2].actor = "intruder".into();
        assert_eq!(verify(&records, 5, &head).unwrap_err().id, 3);
    }

    #[test]
    fn a_removal_is_found_at_the_missing_entry_even_at_the_end() {
        let mut records = chain(5, HashAlgorithm::Sha256);
        let head = records[4].hash.clone();
        records.remove(1);
        assert_eq!(verify(&records, 5, &head).unwrap_err().id, 2);
        let mut records = chain(5, HashAlgorithm::Sha256);
        records.pop();
        assert_eq!(verify(&records, 5, &head).unwrap_err().id, 5);
    }

    #[test]
    fn a_reorder_is_found_at_the_first_moved_entry() {
        let mut records = chain(5, HashAlgorithm::Sha256);
        let head = records[4].hash.clone();
        // Swap the contents of entries 2 and 4, keeping their numbers.
        let (a, b) = (records[1].clone(), records[3].clone());
        records[1] = AuditRecord { id: 2, ..b };
        records[3] = AuditRecord { id: 4, ..a };
        assert_eq!(verify(&records, 5, &head).unwrap_err().id, 2);
    }

    #[test]
    fn every_action_round_trips_through_its_code() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::from_code(action.code()), Some(action));
        }
    }
}
